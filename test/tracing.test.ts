/**
 * node:diagnostics_channel tracing (src/tracing.ts, README "Tracing and diagnostics"), across
 * real processes on 127.0.0.1. Every member (test/fixtures/tracing-member.ts) subscribes to the
 * channels its config names, as an instrumentation would, and reports a snapshot of every
 * message when it is published; the invoke `start` subscriber fills the carrier as told.
 *
 *   (a) a follower's carrier reaches the leader's serve subscribers; result and error on both sides
 *   (b) a leader's own call and single mode: invoke events only, no serve event
 *   (c) a call made while electing: role `electing` at start, the real role at the end
 *   (d) carriers the follower must not send (and the limits, which are inclusive)
 *   (e) the invoke packet's bytes: no `carrier` field unless one was filled
 *   (f) hostile carriers from a raw follower never reach the leader's serve subscribers
 *   (g) interop with cluster-client 3.7.0 in both directions, traced
 *   (h) the role, election and subscription channels during a start and a failover
 *   (i) with no subscriber nothing is traced (the TracingChannel methods are never called)
 *
 * Nothing sleeps: every wait is on an IPC report or a socket event.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { serializeJsonCodec } from '../src/protocol/codec.js';
import { type ConnObj, decodeInvokeArgs, encodeInvokeArgs, encodePacket, packetData, readHeader } from '../src/protocol/packet.js';
import { fromIpc, toIpc } from './fixtures/ipc-values.js';
import type { CarrierSpec, CarrierView, Phase, TraceChannelName, TracingCommand, TracingMemberConfig } from './fixtures/tracing-member.js';
import { freePort, IpcChild, RemoteError } from './helpers/group.js';
import { RawPeer } from './helpers/raw-peer.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/tracing-member.js', import.meta.url));
/** The channel every member uses: the DataClient's class name. */
const NAME = 'FixtureClient';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const TRACESTATE = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';
const W3C: CarrierSpec = { assign: { traceparent: TRACEPARENT, tracestate: TRACESTATE } };
const TEST = { timeout: 90_000 };

/** One diagnostics event a member reported; `message` is the snapshot taken when it was published. */
interface TraceEvent {
  seq: number;
  channel: TraceChannelName;
  phase: Phase | undefined;
  // (`any`: the fields differ per channel; each test reads the ones it knows)
  message: Record<string, any> & { has: string[]; carrier?: CarrierView };
}

type CommandBody = TracingCommand extends infer C ? (C extends TracingCommand ? Omit<C, 'id'> : never) : never;

class TracingMember extends IpcChild {
  readonly config: TracingMemberConfig;

  constructor(config: TracingMemberConfig) {
    super(fork(FIXTURE, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    this.config = config;
  }

  /** Resolves with isClusterClientLeader once ready; rejects with the ready error. */
  async ready(): Promise<boolean> {
    const m = await this.waitFor(x => x.event === 'ready' || x.event === 'ready-error');
    if (m.event === 'ready-error') throw new RemoteError(m.error!);
    return m.isLeader as boolean;
  }

  async command(body: CommandBody): Promise<unknown> {
    return fromIpc((await this.request(body)).value);
  }

  invoke(method: string, ...args: unknown[]): Promise<unknown> {
    return this.command({ cmd: 'invoke', method, args: args.map(toIpc) });
  }

  /** A oneway call (answered as soon as it is made). */
  oneway(method: string, ...args: unknown[]): Promise<unknown> {
    return this.command({ cmd: 'invoke', method, args: args.map(toIpc), style: 'oneway' });
  }

  setCarrier(carrier: CarrierSpec): Promise<unknown> {
    return this.command({ cmd: 'setCarrier', carrier });
  }

  /** The events reported so far, of `channel` (and `phase`) if given, in order. */
  traces(channel?: TraceChannelName, phase?: Phase): TraceEvent[] {
    return this.messages
      .filter(m => m.event === 'trace' && (channel === undefined || m.channel === channel) && (phase === undefined || m.phase === phase))
      .map(m => ({ seq: m.seq as number, channel: m.channel as TraceChannelName, phase: m.phase as Phase | undefined, message: fromIpc(m.message) as TraceEvent['message'] }));
  }

  /** The first event (reported or future) of `channel` and `phase` whose message matches. */
  async waitTrace(channel: TraceChannelName, phase: Phase | undefined, match: (message: TraceEvent['message']) => boolean = () => true): Promise<TraceEvent> {
    await this.waitFor(m => m.event === 'trace' && m.channel === channel && m.phase === phase && match(fromIpc(m.message) as TraceEvent['message']));
    return this.traces(channel, phase).find(e => match(e.message))!;
  }

  /** The TracingChannel events of the one call of `method` whose first argument is `arg`. */
  callEvents(channel: 'invoke' | 'serve', method: string, arg: unknown): TraceEvent[] {
    return this.traces(channel).filter(e => e.message.method === method && isDeepStrictEqual(e.message.args?.[0], arg));
  }

  logs(level: 'warn' | 'error'): string[] {
    return this.messages.filter(m => m.event === 'log' && m.level === level).map(m => String(m.message));
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<unknown> {
    this.child.kill(signal);
    return this.exited;
  }
}

const live = new Set<TracingMember>();
after(() => Promise.all([...live].map(m => (m.child.exitCode === null && m.child.signalCode === null ? m.kill() : undefined))));

function spawn(config: TracingMemberConfig): TracingMember {
  const m = new TracingMember(config);
  live.add(m);
  return m;
}

async function closeAll(...members: TracingMember[]): Promise<void> {
  for (const m of members) {
    await m.close();
    live.delete(m);
  }
}

/** A leader (started and ready first) and followers, all on `port`. */
async function group(port: number, leader: Omit<TracingMemberConfig, 'options'>, followers: Array<Omit<TracingMemberConfig, 'options'>>): Promise<{ leader: TracingMember; followers: TracingMember[] }> {
  const l = spawn({ ...leader, options: { port, ...(leader.impl === 'cluster-client' ? { isLeader: true } : {}) } });
  assert.equal(await l.ready(), true, 'the first member leads');
  const fms = followers.map(f => spawn({ ...f, options: { port } }));
  for (const f of fms) assert.equal(await f.ready(), false, `member ${f.pid} follows`);
  return { leader: l, followers: fms };
}

const phases = (events: TraceEvent[]): Array<Phase | undefined> => events.map(e => e.phase);
const SUCCESS_PHASES: Phase[] = ['start', 'end', 'asyncStart', 'asyncEnd'];
const ERROR_PHASES: Phase[] = ['start', 'end', 'error', 'asyncStart', 'asyncEnd'];

describe('tracing across the hop', () => {
  test('(a) a follower\'s carrier reaches the leader\'s serve subscribers; result and error on both sides', TEST, async () => {
    const port = await freePort();
    const { leader, followers: [follower] } = await group(port, { channels: ['serve', 'invoke'] }, [{ channels: ['invoke'], carrier: W3C }]);

    assert.deepEqual(await follower!.invoke('echo', { n: 1 }), { n: 1 });
    // The leader's serve events are reported by the leader; its asyncEnd may come after the answer.
    await leader.waitTrace('serve', 'asyncEnd', m => m.method === 'echo');

    const calls = follower!.callEvents('invoke', 'echo', { n: 1 });
    assert.deepEqual(phases(calls), SUCCESS_PHASES, 'invoke: start, end, asyncStart, asyncEnd in order');
    const start = calls[0]!.message;
    assert.equal(start.name, NAME);
    assert.equal(start.method, 'echo');
    assert.equal(start.oneway, false);
    assert.equal(start.role, 'follower');
    assert.equal(start.pid, follower!.pid);
    assert.equal(start.leaderPid, leader.pid);
    assert.deepEqual(start.args, [{ n: 1 }]);
    assert.ok(!start.has.includes('result') && !start.has.includes('error'), 'no result at start');
    const asyncEnd = calls[3]!.message;
    assert.deepEqual(asyncEnd.result, { n: 1 }, 'the result at asyncEnd');
    assert.equal(asyncEnd.role, 'follower');
    assert.equal(asyncEnd.leaderPid, leader.pid);
    assert.ok(!asyncEnd.has.includes('error'));

    const served = leader.callEvents('serve', 'echo', { n: 1 });
    assert.deepEqual(phases(served), SUCCESS_PHASES, 'serve: start, end, asyncStart, asyncEnd in order');
    const serveStart = served[0]!.message;
    assert.deepEqual(serveStart.carrier!.entries, { traceparent: TRACEPARENT, tracestate: TRACESTATE }, 'exactly the carrier the follower filled');
    assert.equal(serveStart.carrier!.proto, 'Object.prototype');
    assert.equal(serveStart.name, NAME);
    assert.equal(serveStart.method, 'echo');
    assert.equal(serveStart.oneway, false);
    assert.equal(serveStart.role, 'leader');
    assert.equal(serveStart.pid, leader.pid);
    assert.equal(serveStart.followerPid, follower!.pid);
    assert.deepEqual(serveStart.args, [{ n: 1 }]);
    assert.deepEqual(served[3]!.message.result, { n: 1 });
    assert.equal(leader.traces('invoke').length, 0, 'the leader serving a follower publishes no invoke event of its own');

    // An error of the DataClient, on both sides.
    await assert.rejects(follower!.invoke('fail', 'boom'), (err: RemoteError) => err.code === 'E_FIXTURE' && err.message === 'boom');
    await leader.waitTrace('serve', 'asyncEnd', m => m.method === 'fail');
    const failed = follower!.callEvents('invoke', 'fail', 'boom');
    assert.deepEqual(phases(failed), ERROR_PHASES, 'invoke: start, end, error, asyncStart, asyncEnd');
    for (const e of failed.slice(2)) {
      assert.equal(e.message.error.message, 'boom');
      assert.equal(e.message.error.code, 'E_FIXTURE');
      assert.equal(e.message.error.name, 'TypeError', 'the DataClient\'s error, its name kept');
      assert.ok(!e.message.has.includes('result'));
    }
    const serveFailed = leader.callEvents('serve', 'fail', 'boom');
    assert.deepEqual(phases(serveFailed), ERROR_PHASES, 'serve: start, end, error, asyncStart, asyncEnd');
    assert.deepEqual(serveFailed[0]!.message.carrier!.entries, { traceparent: TRACEPARENT, tracestate: TRACESTATE });
    assert.equal(serveFailed[2]!.message.error.code, 'E_FIXTURE');
    assert.equal(serveFailed[2]!.message.error.name, 'TypeError');
    assert.equal(serveFailed[2]!.message.error.message, 'boom');

    // A oneway call: start and end only on the caller; its carrier still travels.
    await follower!.oneway('record', 'one-way');
    assert.deepEqual(await follower!.invoke('echo', 'after oneway'), 'after oneway');
    const servedOneway = await leader.waitTrace('serve', 'start', m => m.method === 'record');
    assert.equal(servedOneway.message.oneway, true);
    assert.deepEqual(servedOneway.message.carrier!.entries, { traceparent: TRACEPARENT, tracestate: TRACESTATE });
    assert.equal(servedOneway.message.followerPid, follower!.pid);
    assert.deepEqual(phases(follower!.callEvents('invoke', 'record', 'one-way')), ['start', 'end'], 'a oneway call publishes start and end only');
    assert.equal(follower!.callEvents('invoke', 'record', 'one-way')[0]!.message.oneway, true);

    assert.deepEqual(follower!.logs('warn'), [], 'a good carrier is not warned about');
    await closeAll(follower!, leader);
  });

  test('(b) a leader\'s own call and single mode: invoke events with role leader / local, no serve event', TEST, async () => {
    const port = await freePort();
    const leader = spawn({ options: { port }, channels: ['invoke', 'serve'], carrier: W3C });
    assert.equal(await leader.ready(), true);
    assert.equal(await leader.invoke('echo', 'on the leader'), 'on the leader');
    await assert.rejects(leader.invoke('fail', 'leader boom'), (err: RemoteError) => err.code === 'E_FIXTURE');
    const calls = leader.callEvents('invoke', 'echo', 'on the leader');
    assert.deepEqual(phases(calls), SUCCESS_PHASES);
    assert.equal(calls[0]!.message.role, 'leader');
    assert.equal(calls[0]!.message.pid, leader.pid);
    assert.equal(calls[0]!.message.leaderPid, leader.pid, 'the leader holds the DataClient itself');
    assert.equal(calls[3]!.message.result, 'on the leader');
    const failed = leader.callEvents('invoke', 'fail', 'leader boom');
    assert.deepEqual(phases(failed), ERROR_PHASES);
    assert.equal(failed[2]!.message.error.code, 'E_FIXTURE');
    assert.equal(failed[2]!.message.error.name, 'TypeError');
    // Reports of one process arrive in order: any serve event of these calls came before their answers.
    assert.deepEqual(leader.traces('serve'), [], 'no serve event for the leader\'s own calls');

    const single = spawn({ options: { singleMode: true }, channels: ['invoke', 'serve'], carrier: W3C });
    assert.equal(await single.ready(), true);
    assert.equal(await single.invoke('echo', 'local'), 'local');
    await assert.rejects(single.invoke('fail', 'local boom'), (err: RemoteError) => err.code === 'E_FIXTURE');
    const local = single.callEvents('invoke', 'echo', 'local');
    assert.deepEqual(phases(local), SUCCESS_PHASES);
    assert.equal(local[0]!.message.role, 'local');
    assert.equal(local[0]!.message.pid, single.pid);
    assert.equal(local[3]!.message.role, 'local');
    assert.equal(local[3]!.message.result, 'local');
    const localFailed = single.callEvents('invoke', 'fail', 'local boom');
    assert.deepEqual(phases(localFailed), ERROR_PHASES);
    assert.equal(localFailed[2]!.message.error.code, 'E_FIXTURE');
    assert.deepEqual(single.traces('serve'), [], 'single mode serves nobody');
    for (const m of [leader, single]) assert.deepEqual(m.logs('warn'), [], 'a carrier that goes nowhere is not warned about');
    await closeAll(single, leader);
  });

  test('(c) a call made while electing: role electing at start, the real role and leader when it ends', TEST, async () => {
    const port = await freePort();
    const leader = spawn({ options: { port }, channels: ['invoke', 'serve'], callAtCreate: { method: 'echo', args: ['early leader'] } });
    assert.equal(await leader.ready(), true);
    const follower = spawn({ options: { port }, channels: ['invoke'], carrier: W3C, callAtCreate: { method: 'echo', args: ['early follower'] } });
    assert.equal(await follower.ready(), false);
    for (const m of [leader, follower]) {
      const early = await m.waitFor(x => x.event === 'early');
      assert.deepEqual(early.outcome, { ok: true, value: m === leader ? 'early leader' : 'early follower' }, 'the queued call is served');
    }
    await leader.waitTrace('serve', 'asyncEnd', m => isDeepStrictEqual(m.args, ['early follower']));

    const own = leader.callEvents('invoke', 'echo', 'early leader');
    assert.deepEqual(phases(own), SUCCESS_PHASES);
    assert.equal(own[0]!.message.role, 'electing', 'made before the election ended');
    assert.equal(own[0]!.message.leaderPid, undefined);
    assert.equal(own[3]!.message.role, 'leader', 'sent once this process leads');
    assert.equal(own[3]!.message.leaderPid, leader.pid);

    const queued = follower.callEvents('invoke', 'echo', 'early follower');
    assert.deepEqual(phases(queued), SUCCESS_PHASES);
    assert.equal(queued[0]!.message.role, 'electing');
    assert.equal(queued[0]!.message.leaderPid, undefined);
    assert.equal(queued[3]!.message.role, 'follower');
    assert.equal(queued[3]!.message.leaderPid, leader.pid);
    assert.equal(queued[3]!.message.result, 'early follower');
    const served = leader.callEvents('serve', 'echo', 'early follower');
    assert.deepEqual(served[0]!.message.carrier!.entries, { traceparent: TRACEPARENT, tracestate: TRACESTATE }, 'the carrier filled while electing is sent with the queued call');
    assert.equal(served[0]!.message.followerPid, follower.pid);
    await closeAll(follower, leader);
  });

  test('(d) carriers a follower must not send: the call succeeds, the leader sees {}, one warning per client; the limits are inclusive', TEST, async () => {
    const port = await freePort();
    const { leader, followers: [follower] } = await group(port, { channels: ['serve'] }, [{ channels: ['invoke'] }]);
    const many = (n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    const bad: Array<[string, CarrierSpec]> = [
      ['a number value', { assign: { traceparent: TRACEPARENT, n: 42 } }],
      ['17 entries', { assign: many(17) }],
      ['a 5000-byte value', { assign: { traceparent: 'x'.repeat(5000) } }],
      ['a bad name', { assign: { 'trace parent': TRACEPARENT } }],
      ['a 65-character name', { assign: { ['n'.repeat(65)]: 'v' } }],
      ['a non-string value in the middle', { assign: { a: 'v', b: null, c: 'v' } }],
      ['not an object', { replace: 42 }],
      ['an array', { replace: ['traceparent', TRACEPARENT] }],
      ['null', { replace: null }],
    ];
    for (const [label, carrier] of bad) {
      await follower!.setCarrier(carrier);
      assert.equal(await follower!.invoke('echo', label), label, `${label}: the call is served`);
      const start = (await leader.waitTrace('serve', 'start', m => isDeepStrictEqual(m.args, [label]))).message;
      assert.deepEqual(start.carrier!.entries, {}, `${label}: not sent`);
      assert.deepEqual(start.carrier!.ownKeys, [], `${label}: an empty carrier`);
    }
    const warnings = follower!.logs('warn').filter(line => /carrier/.test(line));
    assert.equal(warnings.length, 1, `warned once per client: ${JSON.stringify(follower!.logs('warn'))}`);
    assert.match(warnings[0]!, /tracing subscriber's carrier is not sent: entry n is a number, not a string/);

    // At the limits: sent. And a good carrier after bad ones is sent again.
    const good: Array<[string, Record<string, string>]> = [
      ['16 entries', many(16)],
      ['4096 bytes (name + value)', { t: 'x'.repeat(4095) }],
      ['a 64-character name of every allowed character', { ['Az09_.-'.repeat(10).slice(0, 64)]: 'v' }],
      ['W3C', { traceparent: TRACEPARENT, tracestate: TRACESTATE }],
    ];
    for (const [label, carrier] of good) {
      await follower!.setCarrier({ assign: carrier });
      assert.equal(await follower!.invoke('echo', label), label);
      const start = (await leader.waitTrace('serve', 'start', m => isDeepStrictEqual(m.args, [label]))).message;
      assert.deepEqual(start.carrier!.entries, carrier, `${label}: sent as it is`);
    }
    // ... and one byte over the byte limit is not.
    await follower!.setCarrier({ assign: { t: 'x'.repeat(4096) } });
    assert.equal(await follower!.invoke('echo', '4097 bytes'), '4097 bytes');
    assert.deepEqual((await leader.waitTrace('serve', 'start', m => isDeepStrictEqual(m.args, ['4097 bytes']))).message.carrier!.entries, {});
    assert.equal(follower!.logs('warn').filter(line => /carrier/.test(line)).length, 1, 'still one warning');
    assert.deepEqual(leader.logs('warn'), [], 'the leader saw nothing wrong');
    await closeAll(follower!, leader);
  });
});

/** A frame as it arrived: its bytes, and its connection object and data. */
interface RawFrame {
  bytes: Buffer;
  id: number;
  timeout: number;
  connObj: ConnObj;
  data: Buffer;
}

/**
 * A fake leader on 127.0.0.1:port speaking just enough of the protocol: it answers
 * register_channel like a 3.x leader (no codec: the follower speaks serialize-json), heartbeats,
 * and every invoke with its first argument, and keeps the bytes of every frame it received.
 */
class RawLeader {
  readonly frames: RawFrame[] = [];
  readonly server: net.Server;
  #waiters: Array<{ match: (f: RawFrame) => boolean; resolve: (f: RawFrame) => void }> = [];

  private constructor(server: net.Server) {
    this.server = server;
    server.on('connection', socket => {
      let pending = Buffer.alloc(0);
      socket.on('error', () => undefined);
      socket.on('data', chunk => {
        pending = Buffer.concat([pending, chunk]);
        for (;;) {
          if (pending.length < 24) return;
          const header = readHeader(pending);
          const total = 24 + header.connLength + header.dataLength;
          if (pending.length < total) return;
          const bytes = Buffer.from(pending.subarray(0, total));
          pending = pending.subarray(total);
          const frame: RawFrame = {
            bytes, id: header.id, timeout: header.timeout,
            connObj: JSON.parse(bytes.subarray(24, 24 + header.connLength).toString('utf8')) as ConnObj,
            data: bytes.subarray(24 + header.connLength),
          };
          this.frames.push(frame);
          this.#answer(socket, frame);
          this.#waiters = this.#waiters.filter(w => {
            if (!w.match(frame)) return true;
            w.resolve(frame);
            return false;
          });
        }
      });
    });
  }

  static async listen(port: number): Promise<RawLeader> {
    const server = net.createServer();
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    return new RawLeader(server);
  }

  #answer(socket: net.Socket, frame: RawFrame): void {
    const { type } = frame.connObj;
    if (type === 'register_channel') {
      socket.write(encodePacket(frame.id, true, frame.timeout, { type: 'register_channel_res' }, serializeJsonCodec.encode({ success: true })));
    } else if (type === 'heartbeat') {
      socket.write(encodePacket(frame.id, true, frame.timeout, { type: 'heartbeat_res' }));
    } else if (type === 'invoke' && frame.connObj.oneway !== true) {
      const [first] = decodeInvokeArgs(frame.data, Number(frame.connObj.argLength), serializeJsonCodec);
      socket.write(encodePacket(frame.id, true, frame.timeout, { type: 'invoke_result', success: true }, serializeJsonCodec.encode(first)));
    }
  }

  waitFrame(match: (f: RawFrame) => boolean): Promise<RawFrame> {
    const found = this.frames.find(match);
    if (found) return Promise.resolve(found);
    return new Promise(resolve => this.#waiters.push({ match, resolve }));
  }

  async close(): Promise<void> {
    this.server.close();
    await once(this.server, 'close');
  }
}

/** The frame's bytes with its 8-byte request id zeroed (ids differ from process to process). */
const withoutId = (frame: RawFrame): Buffer => {
  const bytes = Buffer.from(frame.bytes);
  bytes.fill(0, 4, 12);
  return bytes;
};

describe('tracing on the wire', () => {
  test('(e) the invoke packet is byte-identical with no subscriber and with a subscriber that adds nothing; a filled carrier is in it', TEST, async () => {
    const cases: Array<[string, Omit<TracingMemberConfig, 'options'>]> = [
      ['no subscriber', {}],
      ['a subscriber that adds nothing', { channels: ['invoke'] }],
      ['a subscriber that adds a traceparent', { channels: ['invoke'], carrier: { assign: { traceparent: TRACEPARENT } } }],
    ];
    const seen: Record<string, { call: RawFrame; oneway: RawFrame }> = {};
    for (const [label, config] of cases) {
      const port = await freePort();
      const raw = await RawLeader.listen(port);
      const follower = spawn({ ...config, options: { port, isLeader: false } });
      assert.equal(await follower.ready(), false, `${label}: follows the raw leader`);
      await follower.oneway('record', 'same tag');
      assert.equal(await follower.invoke('echo', 'same value'), 'same value', `${label}: answered`);
      seen[label] = {
        oneway: await raw.waitFrame(f => f.connObj.type === 'invoke' && f.connObj.method === 'record'),
        call: await raw.waitFrame(f => f.connObj.type === 'invoke' && f.connObj.method === 'echo'),
      };
      await closeAll(follower);
      await raw.close();
    }
    const none = seen['no subscriber']!;
    const empty = seen['a subscriber that adds nothing']!;
    const filled = seen['a subscriber that adds a traceparent']!;
    // Exactly what 3.x sends: no carrier key at all.
    assert.deepEqual(none.call.connObj, { type: 'invoke', method: 'echo', argLength: 1, oneway: false });
    assert.deepEqual(none.oneway.connObj, { type: 'invoke', method: 'record', argLength: 1, oneway: true });
    assert.ok(withoutId(empty.call).equals(withoutId(none.call)), `a call: the same bytes\n${withoutId(empty.call).toString('hex')}\n${withoutId(none.call).toString('hex')}`);
    assert.ok(withoutId(empty.oneway).equals(withoutId(none.oneway)), 'a oneway call: the same bytes');
    assert.equal(empty.call.bytes.length, none.call.bytes.length);

    assert.deepEqual(filled.call.connObj, { type: 'invoke', method: 'echo', argLength: 1, oneway: false, carrier: { traceparent: TRACEPARENT } });
    assert.deepEqual(filled.oneway.connObj, { type: 'invoke', method: 'record', argLength: 1, oneway: true, carrier: { traceparent: TRACEPARENT } });
    assert.ok(filled.call.data.equals(none.call.data), 'the arguments are the same bytes');
    assert.ok(filled.call.data.equals(Buffer.concat(encodeInvokeArgs(['same value'], serializeJsonCodec))));
    assert.equal(filled.call.timeout, none.call.timeout);
    // The carrier costs its JSON and nothing else.
    assert.equal(filled.call.bytes.length - none.call.bytes.length, `,"carrier":${JSON.stringify({ traceparent: TRACEPARENT })}`.length);
  });

  test('(f) hostile carriers from a raw follower are not passed to serve subscribers; every call is still served', TEST, async () => {
    const port = await freePort();
    const leader = spawn({ options: { port }, channels: ['serve'] });
    assert.equal(await leader.ready(), true);
    const peer = await RawPeer.connect(port);
    const registered = await peer.register(NAME);
    assert.deepEqual(serializeJsonCodec.decode(packetData(registered)!), { success: true });

    const protoKey = (value: unknown): Record<string, unknown> => Object.defineProperty({}, '__proto__', { value, enumerable: true });
    const hostile: Array<[string, unknown]> = [
      ['a number', 42],
      ['a string', TRACEPARENT],
      ['null', null],
      ['an array', [TRACEPARENT]],
      ['a number value', { traceparent: 1 }],
      ['an object value', { traceparent: { polluted: 'yes' } }],
      ['a boolean value', { traceparent: true }],
      ['a huge value (100 KB)', { traceparent: 'x'.repeat(100_000) }],
      ['1000 entries', Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, 'v']))],
      ['a bad name', { 'x y': 'v' }],
      ['an empty name', { '': 'v' }],
      ['__proto__ holding an object', protoKey({ polluted: 'yes' })],
      ['__proto__ holding a string', protoKey('polluted')],
    ];
    for (const [label, carrier] of hostile) {
      const id = peer.send({ type: 'invoke', method: 'echo', argLength: 1, oneway: false, carrier }, encodeInvokeArgs([label], serializeJsonCodec));
      const answer = await peer.response(id);
      assert.equal(answer.connObj.success, true, `${label}: served`);
      assert.equal(serializeJsonCodec.decode(packetData(answer)!), label);
      const start = (await leader.waitTrace('serve', 'start', m => isDeepStrictEqual(m.args, [label]))).message;
      assert.deepEqual(start.carrier!.entries, {}, `${label}: nothing of it reaches the subscribers`);
      assert.deepEqual(start.carrier!.ownKeys, [], `${label}: no own key`);
      assert.equal(start.carrier!.proto, 'Object.prototype', `${label}: a plain object`);
      assert.equal(start.followerPid, undefined, 'a 3.x-shaped follower said no pid');
    }
    // A __proto__ entry holding a string, next to a good entry: whatever else is passed, the
    // __proto__ entry never is, and it never becomes the carrier's prototype.
    const mixed = { ...protoKey('polluted'), traceparent: TRACEPARENT };
    const id = peer.send({ type: 'invoke', method: 'echo', argLength: 1, oneway: false, carrier: mixed }, encodeInvokeArgs(['mixed'], serializeJsonCodec));
    assert.equal((await peer.response(id)).connObj.success, true);
    const mixedStart = (await leader.waitTrace('serve', 'start', m => isDeepStrictEqual(m.args, ['mixed']))).message;
    assert.ok(!mixedStart.carrier!.ownKeys.includes('__proto__'), `no own __proto__ key: ${JSON.stringify(mixedStart.carrier)}`);
    assert.equal(mixedStart.carrier!.proto, 'Object.prototype');
    assert.ok(mixedStart.carrier!.ownKeys.every(k => k === 'traceparent'), `only the good entry, if any: ${JSON.stringify(mixedStart.carrier)}`);
    // A good carrier from the same raw follower is passed: the checks above are not vacuous.
    const goodId = peer.send({ type: 'invoke', method: 'echo', argLength: 1, oneway: false, carrier: { traceparent: TRACEPARENT } }, encodeInvokeArgs(['good'], serializeJsonCodec));
    assert.equal((await peer.response(goodId)).connObj.success, true);
    assert.deepEqual((await leader.waitTrace('serve', 'start', m => isDeepStrictEqual(m.args, ['good']))).message.carrier!.entries, { traceparent: TRACEPARENT });

    assert.equal(await leader.command({ cmd: 'pollution' }), false, 'Object.prototype is untouched in the leader');
    assert.equal(peer.closed, false, 'the leader kept the connection');
    assert.deepEqual(leader.messages.filter(m => m.event === 'client-error'), [], 'no error on the leader');
    peer.destroy();
    await closeAll(leader);
  });
});

describe('tracing with cluster-client 3.7.0 peers', () => {
  test('(g1) a 3.x follower calling a traced cluster-share leader', TEST, async () => {
    const port = await freePort();
    const { leader, followers: [old] } = await group(port, { channels: ['serve', 'invoke'] }, [{ impl: 'cluster-client', channels: ['invoke', 'serve'], carrier: W3C }]);
    assert.deepEqual(await old!.invoke('echo', { from: '3.x' }), { from: '3.x' });
    await assert.rejects(old!.invoke('fail', '3.x boom'), (err: RemoteError) => err.code === 'E_FIXTURE');
    await leader.waitTrace('serve', 'asyncEnd', m => m.method === 'fail');
    const served = leader.callEvents('serve', 'echo', { from: '3.x' });
    assert.deepEqual(phases(served), SUCCESS_PHASES);
    assert.equal(served[0]!.message.followerPid, undefined, 'a 3.x follower does not say its pid');
    assert.deepEqual(served[0]!.message.carrier!.entries, {}, 'and sends no carrier');
    assert.deepEqual(served[3]!.message.result, { from: '3.x' });
    assert.deepEqual(phases(leader.callEvents('serve', 'fail', '3.x boom')), ERROR_PHASES);
    assert.deepEqual(old!.traces(), [], 'cluster-client 3.x publishes nothing: the channels are cluster-share\'s');
    await closeAll(old!, leader);
  });

  test('(g2) a traced cluster-share follower calling a 3.x leader, which ignores the carrier', TEST, async () => {
    const port = await freePort();
    const { leader: old, followers: [follower] } = await group(port, { impl: 'cluster-client', channels: ['serve', 'invoke'] }, [{ channels: ['invoke'], carrier: W3C }]);
    assert.deepEqual(await follower!.invoke('echo', { to: '3.x' }), { to: '3.x' });
    await assert.rejects(follower!.invoke('fail', 'boom at 3.x'), (err: RemoteError) => err.code === 'E_FIXTURE' && err.message === 'boom at 3.x');
    await follower!.oneway('record', 'oneway to 3.x');
    // The connection is ordered: once this call is answered, the oneway call has been run.
    assert.equal(await follower!.invoke('echo', 'after oneway'), 'after oneway');
    assert.deepEqual(await old!.invoke('recorded'), ['oneway to 3.x'], 'the oneway call with a carrier reached the 3.x DataClient');

    const calls = follower!.callEvents('invoke', 'echo', { to: '3.x' });
    assert.deepEqual(phases(calls), SUCCESS_PHASES);
    assert.equal(calls[0]!.message.role, 'follower');
    assert.equal(calls[0]!.message.leaderPid, undefined, 'a 3.x leader does not say its pid');
    assert.deepEqual(calls[0]!.message.carrier!.entries, { traceparent: TRACEPARENT, tracestate: TRACESTATE });
    assert.deepEqual(calls[3]!.message.result, { to: '3.x' });
    const failed = follower!.callEvents('invoke', 'fail', 'boom at 3.x');
    assert.deepEqual(phases(failed), ERROR_PHASES);
    assert.equal(failed[2]!.message.error.code, 'E_FIXTURE');
    assert.equal(failed[2]!.message.error.message, 'boom at 3.x');
    assert.deepEqual(old!.traces(), []);
    assert.deepEqual(follower!.logs('warn'), []);
    assert.deepEqual(old!.logs('error'), [], 'the 3.x leader logged no error');
    await closeAll(follower!, old!);
  });
});

describe('role, election and subscription channels', () => {
  test('(h) a start and a failover (SIGKILL of the leader) publish the documented shapes', TEST, async () => {
    const port = await freePort();
    const channels: TraceChannelName[] = ['role', 'election', 'subscription'];
    const a = spawn({ options: { port }, channels });
    assert.equal(await a.ready(), true);
    const b = spawn({ options: { port }, channels });
    const c = spawn({ options: { port }, channels });
    assert.equal(await b.ready(), false);
    assert.equal(await c.ready(), false);

    // The start.
    for (const m of [a, b, c]) {
      const leads = m === a;
      const [startEvent, endEvent] = m.traces('election');
      assert.equal(m.traces('election').length, 2, `${m.pid}: one election`);
      const before = Date.now();
      assert.deepEqual(Object.keys(startEvent!.message).filter(k => k !== 'has').sort(), ['name', 'phase', 'pid', 'reason', 'startedAt']);
      assert.equal(startEvent!.message.name, NAME);
      assert.equal(startEvent!.message.pid, m.pid);
      assert.equal(startEvent!.message.phase, 'start');
      assert.equal(startEvent!.message.reason, 'start');
      assert.ok(startEvent!.message.startedAt > before - 60_000 && startEvent!.message.startedAt <= before, 'startedAt is Date.now() ms');
      assert.deepEqual(
        { ...endEvent!.message, has: undefined, durationMs: undefined },
        { has: undefined, name: NAME, pid: m.pid, phase: 'end', reason: 'start', role: leads ? 'leader' : 'follower', leaderPid: a.pid, durationMs: undefined },
      );
      assert.ok(Number.isFinite(endEvent!.message.durationMs) && endEvent!.message.durationMs >= 0);
      const roles = m.traces('role');
      assert.equal(roles.length, 1);
      assert.deepEqual({ ...roles[0]!.message, has: undefined }, { has: undefined, name: NAME, pid: m.pid, role: leads ? 'leader' : 'follower', reason: 'start', leaderPid: a.pid, interim: false });
      assert.ok(startEvent!.seq < roles[0]!.seq, 'the election starts before the role is taken');
    }

    // A value delivered to every subscribed client.
    for (const m of [a, b, c]) await m.command({ cmd: 'subscribe', key: 'k' });
    await a.invoke('push', 'k', 'v1');
    for (const m of [a, b, c]) {
      const e = await m.waitTrace('subscription', undefined);
      assert.deepEqual(Object.keys(e.message).filter(k => k !== 'has').sort(), ['key', 'listeners', 'name', 'pid', 'role']);
      assert.equal(e.message.name, NAME);
      assert.equal(e.message.pid, m.pid);
      assert.equal(e.message.role, m === a ? 'leader' : 'follower');
      assert.equal(e.message.listeners, 1);
      // (The TSDoc says `formatKey(reg)`; what is published today is the wire key, with 3.x's
      // '$$inner$$__' prefix in front of it. Either names the subscription.)
      assert.ok(String(e.message.key).endsWith(JSON.stringify({ key: 'k' })), `the key names the subscription: ${e.message.key}`);
      await m.waitFor(x => x.event === 'value' && x.key === 'k');
    }

    // The failover.
    const lastSeq = new Map([b, c].map(m => [m, m.traces().at(-1)!.seq]));
    await a.kill('SIGKILL');
    live.delete(a);
    const newRole = async (m: TracingMember): Promise<TraceEvent> => m.waitTrace('role', undefined, r => r.reason === 'leaderLost' && r.role !== undefined);
    const [rb, rc] = await Promise.all([newRole(b), newRole(c)]);
    const newLeader = rb.message.role === 'leader' ? b : c;
    assert.deepEqual([rb.message.role, rc.message.role].sort(), ['follower', 'leader'], 'one survivor leads, the other follows');
    for (const m of [b, c]) {
      // Wait for the election's end too (it may be reported after the role).
      await m.waitTrace('election', undefined, e => e.phase === 'end' && e.reason === 'leaderLost');
      const later = m.traces().filter(e => e.seq > lastSeq.get(m)! && e.channel !== 'subscription');
      const kinds = later.map(e => `${e.channel}:${e.message.phase ?? e.message.role ?? 'lost'}`);
      const leads = m === newLeader;
      // Lost, then the election starts; it ends with the new role (in either order).
      assert.deepEqual(kinds.slice(0, 2), ['role:lost', 'election:start'], `${m.pid}: ${JSON.stringify(kinds)}`);
      assert.deepEqual(kinds.slice(2).sort(), ['election:end', leads ? 'role:leader' : 'role:follower'], `${m.pid}: ${JSON.stringify(kinds)}`);
      const [lost, start] = later;
      const role = later.find(e => e.channel === 'role' && e.message.role !== undefined);
      const end = later.find(e => e.channel === 'election' && e.message.phase === 'end');
      assert.deepEqual({ ...lost!.message, has: undefined }, { has: undefined, name: NAME, pid: m.pid, role: undefined, reason: 'leaderLost', leaderPid: undefined, interim: false });
      assert.ok(lost!.message.has.includes('role'), 'role is present, undefined');
      assert.equal(start!.message.reason, 'leaderLost');
      assert.equal(start!.message.pid, m.pid);
      assert.equal(typeof start!.message.startedAt, 'number');
      assert.deepEqual({ ...role!.message, has: undefined }, { has: undefined, name: NAME, pid: m.pid, role: leads ? 'leader' : 'follower', reason: 'leaderLost', leaderPid: newLeader.pid, interim: false });
      assert.equal(end!.message.phase, 'end');
      assert.equal(end!.message.reason, 'leaderLost');
      assert.equal(end!.message.role, leads ? 'leader' : 'follower');
      assert.equal(end!.message.leaderPid, newLeader.pid);
      assert.ok(end!.message.durationMs >= 0);
    }

    // The subscriptions were replayed to the new leader: a value pushed there reaches both.
    const before = { b: b.traces('subscription').length, c: c.traces('subscription').length };
    await newLeader.invoke('push', 'k', 'v2');
    for (const m of [b, c]) {
      await m.waitFor(x => x.event === 'value' && x.key === 'k' && fromIpc(x.value) === 'v2');
      const subs = m.traces('subscription');
      assert.ok(subs.length > (m === b ? before.b : before.c));
      assert.equal(subs.at(-1)!.message.role, m === newLeader ? 'leader' : 'follower');
    }

    // Closing: role undefined, reason closed (reported before close() answers).
    const follower = newLeader === b ? c : b;
    await closeAll(follower, newLeader);
    for (const m of [follower, newLeader]) {
      const last = m.traces('role').at(-1)!.message;
      assert.equal(last.role, undefined);
      assert.equal(last.reason, 'closed');
    }
  });
});

describe('no subscriber', () => {
  test('(i) nothing is traced: hasSubscribers is false and the TracingChannel methods are never called; calls work', TEST, async () => {
    const port = await freePort();
    const { leader, followers: [plain, traced] } = await group(port, { spyTraceCalls: true }, [{ spyTraceCalls: true }, { spyTraceCalls: true, channels: ['invoke'], carrier: W3C }]);
    for (const m of [leader, plain!]) {
      assert.deepEqual(await m.command({ cmd: 'hasSubscribers' }), { invoke: false, serve: false, role: false, election: false, subscription: false });
    }
    assert.equal(await plain!.invoke('echo', 'plain'), 'plain');
    await assert.rejects(plain!.invoke('fail', 'plain boom'), (err: RemoteError) => err.code === 'E_FIXTURE');
    await plain!.oneway('record', 'plain oneway');
    // The connection is ordered: once this call is answered, the oneway call has been run.
    assert.equal(await plain!.invoke('echo', 'after oneway'), 'after oneway');
    assert.equal(await leader.invoke('echo', 'leader'), 'leader');
    assert.deepEqual(await leader.invoke('recorded'), ['plain oneway']);
    assert.deepEqual(await plain!.command({ cmd: 'traceCalls' }), {}, 'the follower wrapped no call in a trace');
    assert.deepEqual(await leader.command({ cmd: 'traceCalls' }), {}, 'neither did the leader, its own calls nor the ones it served');

    // The spy works: a subscribed follower's calls are traced, and the leader, with no serve
    // subscriber, still does not trace serving them (though they carry a carrier).
    await traced!.oneway('record', 'traced oneway');
    assert.equal(await traced!.invoke('echo', 'traced'), 'traced');
    assert.deepEqual(await leader.invoke('recorded'), ['plain oneway', 'traced oneway']);
    assert.deepEqual(await traced!.command({ cmd: 'traceCalls' }), { 'cluster-share:invoke': 2 });
    assert.deepEqual(await leader.command({ cmd: 'traceCalls' }), {});
    assert.deepEqual(phases(traced!.callEvents('invoke', 'echo', 'traced')), SUCCESS_PHASES);
    await closeAll(plain!, traced!, leader);
  });
});
