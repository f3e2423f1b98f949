// Compiled by `npm run typecheck` against the built package (self-reference to dist/*.d.ts):
// proves the published types type delegates, and that mistakes fail to compile.
import cluster, {
  APIClientBase, CallAbortedError, close, type ClientStats, type ClusterOptions, type ElectionEndEvent, ResponseTimeoutError, stats,
} from 'cluster-share';

class Registry {
  constructor(readonly options: { endpoint: string }) {}
  async getData(id: string): Promise<{ id: string; size: number }> {
    return { id, size: 1 };
  }
  *legacy(n: number): Generator<Promise<number>, string, number> {
    const v = yield Promise.resolve(n);
    return String(v);
  }
  fetchCallback(key: string, cb: (err: Error | null, value: number) => void): void {
    cb(null, key.length);
  }
  notify(event: string): void {
    void event;
  }
  subscribe(reg: { dataId: string }, listener: (value: string[]) => void): void {
    listener([reg.dataId]);
  }
  publish(reg: { dataId: string; host: string }): void {
    void reg;
  }
}

const client = cluster(Registry, { port: 7777, responseTimeout: 1000 })
  .delegate('getData')
  .delegate('legacy')
  .delegate('fetchCallback')
  .delegate('notify', 'invokeOneway')
  .delegate('subscribe', 'subscribe')
  .delegate('publish', 'publish')
  .create({ endpoint: 'x' });

async function usage(): Promise<void> {
  await client.ready();
  const data: { id: string; size: number } = await client.getData('a');
  const legacy: string = await client.legacy(1);
  const viaPromise: number = await client.fetchCallback('k');
  client.fetchCallback('k', (err, value) => void [err, value]);
  client.notify('e');
  client.subscribe({ dataId: 'd' }, (value: string[]) => void value);
  client.publish({ dataId: 'd', host: 'h' });
  const leader: boolean = client.isClusterClientLeader;
  void [data, legacy, viaPromise, leader];

  // @ts-expect-error misspelled method: not a method of Registry
  cluster(Registry).delegate('getDat');
  // @ts-expect-error wrong argument type
  await client.getData(42);
  // @ts-expect-error result type is { id, size }, not a string
  const wrong: string = await client.getData('a');
  // @ts-expect-error unknown delegate target
  cluster(Registry).delegate('getData', 'call');
  // @ts-expect-error wrong constructor options
  cluster(Registry).create({ endpont: 'x' });
  // @ts-expect-error subscribe listener gets string[], not number
  client.subscribe({ dataId: 'd' }, (value: number) => void value);
  // @ts-expect-error unknown option name
  const bad: ClusterOptions = { prot: 1 };
  void [wrong, bad];

  // autoGenerate types async methods without delegate().
  const auto = cluster(Registry).create({ endpoint: 'y' });
  const autoData: { id: string; size: number } = await auto.getData('b');
  void autoData;
  // @ts-expect-error notify is sync: not auto-delegated
  auto.notify('e');

  // Stats, role events and per-call options are typed.
  const snapshot: ClientStats = client.stats();
  const same: ClientStats = stats(client);
  const role: 'leader' | 'follower' | 'local' | undefined = snapshot.role;
  const followerPids: Array<number | undefined> = snapshot.followers.map(f => f.pid);
  client.on('becomeLeader', (e: ElectionEndEvent) => void e.durationMs);
  client.on('electionStart', e => {
    const reason: 'start' | 'leaderLost' | 'leaderClosing' | 'leaderUnresponsive' | 'takenOver' = e.reason;
    void reason;
  });
  client.on('takeover', e => {
    const phase: 'interim' | 'port' | 'ended' = e.phase;
    const interim: boolean = client.stats().interim;
    void phase, interim;
  });
  client.on('leaderUnresponsive', e => void e.silentMs);
  client.on('someDataClientEvent', (value: string) => void value);
  // @ts-expect-error electionStart's payload has no durationMs
  client.on('electionStart', (e: ElectionEndEvent) => void e);
  const aborted: { id: string; size: number } = await client.withCallOptions({ signal: AbortSignal.timeout(10), timeout: 100 }).getData('a');
  // @ts-expect-error the view keeps the method types
  await client.withCallOptions({ timeout: 1 }).getData(1);
  // @ts-expect-error unknown call option
  client.withCallOptions({ deadline: 1 });
  const abortCode: string = new CallAbortedError('m', undefined).code;
  void [same, role, followerPids, aborted, abortCode];

  // A DataClient with its own async stats(): the delegate takes the name, cluster.stats() stays ours.
  class WithStats {
    async stats(): Promise<{ hits: number }> {
      return { hits: 1 };
    }
  }
  const withStats = cluster(WithStats).create();
  const own: { hits: number } = await withStats.stats();
  const ours: ClientStats = stats(withStats);
  // withCallOptions keeps the delegated methods' types, also on such a client.
  const viaView: { hits: number } = await withStats.withCallOptions({ timeout: 5 }).stats();
  void [own, ours, viaView];

  await close(client);
  const err = new ResponseTimeoutError('m', 1, 'x');
  const code: string = err.code;
  void code;
}
void usage;

class RegistryAPI extends APIClientBase {
  override get DataClient() {
    return Registry;
  }
  override get clusterOptions(): ClusterOptions {
    return { name: 'registry' };
  }
}
void RegistryAPI;
