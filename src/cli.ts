#!/usr/bin/env node
/**
 * The `cluster-share` command.
 *
 *   cluster-share status [--port <port> | --path <socket>] [--json] [--timeout <ms>] [--secret <secret>]
 *
 * Connects to the leader as an observer (the `status` packet, our extension), prints who leads,
 * since when, its channels, their followers and the calls in flight, and exits. Exit codes:
 * 0 printed, 1 no status (nothing listens, no answer, refused), 2 bad usage.
 */
import fs, { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { DEFAULT_PORT } from './options.js';
import { newNonce, observerProof } from './protocol/auth.js';
import { encodePacket, nextRequestId, packetData, STATUS } from './protocol/packet.js';
import type { ChannelStatus, LeaderStatus } from './stats.js';
import { Connection, type ConnectionHandler } from './transport/connection.js';
import { connectSocket, describeEndpoint, type Endpoint } from './transport/endpoint.js';
import { rendezvousOf } from './transport/rendezvous.js';

const USAGE = `Usage: cluster-share status [options]

Prints the status of the cluster-share leader on a port or unix socket: its pid, how long it
has led, its channels, the followers of each and the calls in flight.

Options:
  --port <port>     loopback TCP port (default: NODE_CLUSTER_CLIENT_PORT or ${DEFAULT_PORT})
  --path <socket>   unix domain socket path instead of a port
  --json            print JSON instead of tables
  --timeout <ms>    how long to wait for the answer (default 3000)
  --secret <s>      the shared secret, if the leader uses one (default: NODE_CLUSTER_CLIENT_SECRET)
  -h, --help        this help
  -v, --version     print the version of cluster-share

Exit codes: 0 printed, 1 no status (nothing listens, no answer, refused), 2 bad usage.`;

/** This package's version, from its package.json (dist/esm/cli.js is two levels below it). */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** A failure to report: message on stderr, exit code. */
class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

interface StatusCommand {
  endpoint: Endpoint;
  json: boolean;
  timeout: number;
  secret: string | undefined;
}

function positiveInt(value: string, what: string, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) throw new CliError(`${what} must be an integer from 1 to ${max}, got ${JSON.stringify(value)}\n\n${USAGE}`, 2);
  return n;
}

function parse(argv: string[]): StatusCommand | 'help' | 'version' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: 'string' },
        path: { type: 'string' },
        json: { type: 'boolean', default: false },
        timeout: { type: 'string' },
        secret: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (values.version) return 'version';
  if (positionals.length !== 1 || positionals[0] !== 'status') {
    throw new CliError(`${positionals.length === 0 ? 'missing command' : `unknown command ${JSON.stringify(positionals.join(' '))}`}\n\n${USAGE}`, 2);
  }
  if (values.port !== undefined && values.path !== undefined) throw new CliError(`use --port or --path, not both\n\n${USAGE}`, 2);
  let endpoint: Endpoint;
  if (values.path !== undefined) {
    if (values.path === '') throw new CliError(`--path must not be empty\n\n${USAGE}`, 2);
    endpoint = { path: values.path };
  } else {
    const port = values.port ?? process.env.NODE_CLUSTER_CLIENT_PORT;
    endpoint = { port: port === undefined ? DEFAULT_PORT : positiveInt(port, values.port === undefined ? 'NODE_CLUSTER_CLIENT_PORT' : '--port', 65535) };
  }
  return {
    endpoint,
    json: values.json === true,
    timeout: values.timeout === undefined ? 3000 : positiveInt(values.timeout, '--timeout', 2 ** 31 - 1),
    secret: values.secret ?? process.env.NODE_CLUSTER_CLIENT_SECRET,
  };
}

/** The fields the tables read are there (a peer that is not our leader could send anything). */
function isLeaderStatus(body: unknown): body is LeaderStatus {
  const { leader, channels } = (body ?? {}) as Partial<LeaderStatus>;
  return typeof leader === 'object' && leader !== null && Number.isSafeInteger(leader.pid) && Array.isArray(channels)
    && channels.every(c => typeof c === 'object' && c !== null && typeof c.name === 'string' && Array.isArray(c.followers));
}

/** Connects and asks; resolves with the leader's status or rejects with a CliError. */
async function fetchStatus({ endpoint, timeout, secret }: StatusCommand): Promise<LeaderStatus> {
  const where = describeEndpoint(endpoint);
  let socket: Socket;
  try {
    socket = await connectSocket(endpoint, timeout);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED' || code === 'ENOENT') throw new CliError(`nothing listens on ${where}: no cluster-share (or cluster-client) leader runs there`, 1);
    if (code === 'ETIMEDOUT') throw new CliError(`cannot connect to ${where}: no answer within ${timeout}ms`, 1);
    throw new CliError(`cannot connect to ${where}: ${(err as Error).message}`, 1);
  }
  return new Promise((resolve, reject) => {
    let protocolError: Error | undefined;
    const handler: ConnectionHandler = {
      onRequest: () => undefined,
      onClose: () => undefined,
      onProtocolError: err => {
        protocolError = err;
      },
    };
    const conn = new Connection(socket, handler, { maxFrameSize: 64 * 1024 * 1024, maxWriteBuffer: 1024 * 1024, frameTimeout: timeout });
    conn.errors = {
      timeout: () => new CliError(`${where} accepted the connection but did not answer the status request within ${timeout}ms: a cluster-client 3.x leader (3.x has no status), or not a cluster-share leader`, 1),
      closed: () => new CliError(protocolError
        ? `${where} is not a cluster-share leader: it answered with bytes that are not packets`
        : `${where} closed the connection without answering the status request: not a cluster-share leader`, 1),
    };
    const id = nextRequestId();
    const nonce = secret === undefined ? undefined : newNonce();
    const auth = nonce === undefined ? undefined : { nonce, proof: observerProof(secret!, nonce) };
    conn.request(id, encodePacket(id, false, timeout, { type: STATUS, ...(auth ? { auth } : {}) }), timeout, 'status', (err, packet) => {
      conn.destroy();
      if (err) return reject(err);
      let body: unknown;
      try {
        body = JSON.parse(packetData(packet!)?.toString('utf8') ?? '');
      } catch {
        return reject(new CliError(`${where} answered the status request with something that is not JSON`, 1));
      }
      const error = (body as { error?: { message?: string; code?: string } }).error;
      if (error || packet!.connObj.success !== true) {
        return reject(new CliError(`the leader on ${where} refused the status request: ${error?.message ?? 'no reason given'}${error?.code ? ` (${error.code})` : ''}`, 1));
      }
      if (!isLeaderStatus(body)) return reject(new CliError(`${where} answered the status request with JSON that is not a leader's status: not a cluster-share leader`, 1));
      resolve(body);
    });
  });
}

/** 93784 ms → "1m 33s"; under a minute with one decimal. */
function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts = d > 0 ? [`${d}d`, `${h}h`, `${m}m`] : h > 0 ? [`${h}h`, `${m}m`, `${s % 60}s`] : [`${m}m`, `${s % 60}s`];
  return parts.join(' ');
}

/** Columns padded to their widest cell. */
function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map(row => row[i]!.length)));
  return rows.map(row => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function channelTable(channel: ChannelStatus, now: number): string {
  if (channel.followers.length === 0) return `followers of "${channel.name}": none`;
  const rows = [['pid', 'connection', 'in-flight', 'subscriptions', 'codec', 'connected', 'received', 'sent']];
  for (const f of channel.followers) {
    rows.push([
      f.pid === undefined ? '?' : String(f.pid), `#${f.connection}`, String(f.inFlightCalls), String(f.subscriptions), f.codec,
      formatDuration(now - f.connectedAt), bytes(f.traffic.bytesIn), bytes(f.traffic.bytesOut),
    ]);
  }
  return `followers of "${channel.name}":\n${table(rows).replace(/^/gm, '  ')}`;
}

/** The readable form of a status. */
function formatStatus(status: LeaderStatus, now = Date.now()): string {
  const { leader, channels } = status;
  const lines = [
    leader.interimFor === undefined ? `leader on ${leader.endpoint}` : `interim leader on ${leader.endpoint} (while the holder of ${leader.interimFor} hangs)`,
    table([['  pid', String(leader.pid)], ['  leading for', formatDuration(leader.uptimeMs)], ['  node', leader.node]]),
    '',
  ];
  if (channels.length === 0) {
    lines.push('channels: none');
  } else {
    const rows = [['channel', 'followers', 'in-flight (leader)', 'in-flight (followers)', 'subscriptions']];
    for (const c of channels) rows.push([c.name, String(c.followers.length), String(c.leaderInFlightCalls), String(c.followerInFlightCalls), String(c.subscriptions)]);
    lines.push(table(rows));
    for (const c of channels) lines.push('', channelTable(c, now));
  }
  if (status.pendingConnections > 0) lines.push('', `connections not registered yet: ${status.pendingConnections}`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  try {
    const command = parse(argv);
    if (command === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (command === 'version') {
      process.stdout.write(`${version()}\n`);
      return 0;
    }
    // An interim leader (README "A hung leader") serves on the rendezvous while the holder of
    // the endpoint hangs: ask both; the endpoint's answer wins when there is one.
    const rendezvous = rendezvousOf(command.endpoint, false);
    const interimAt = 'endpoint' in rendezvous && fs.existsSync(rendezvous.endpoint.path) ? rendezvous.endpoint : undefined;
    const [main, interim] = await Promise.allSettled([
      fetchStatus(command),
      interimAt ? fetchStatus({ ...command, endpoint: interimAt }) : Promise.reject(new CliError('no interim leader', 1)),
    ]);
    if (main.status === 'rejected' && interim.status === 'rejected') throw main.reason;
    const status = main.status === 'fulfilled' ? main.value : (interim as PromiseFulfilledResult<LeaderStatus>).value;
    if (command.json) {
      process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
      return 0;
    }
    const parts = [formatStatus(status)];
    if (main.status === 'rejected') parts.unshift(`the holder of ${describeEndpoint(command.endpoint)} does not answer (${(main.reason as Error).message}); an interim leader serves meanwhile:\n`);
    else if (interim.status === 'fulfilled') parts.push('', formatStatus(interim.value));
    process.stdout.write(`${parts.join('\n')}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    process.stderr.write(`cluster-share: ${err.message}\n`);
    return err.exitCode;
  }
}

main(process.argv.slice(2)).then(code => {
  process.exitCode = code;
}, (err: unknown) => {
  process.stderr.write(`cluster-share: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});
