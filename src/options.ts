/**
 * Options: defaults, environment variables and validation, in one place.
 * `resolveOptions` is the only function that reads `process.env`.
 */
import { debuglog } from 'node:util';
import stringify from 'json-stringify-safe';
import { InvalidOptionError } from './errors.js';
import { NEGOTIABLE_CODECS, type NamedCodec, serializeJsonCodec } from './protocol/codec.js';
import type { Codec } from './protocol/packet.js';
import { DEFAULT_MAX_FRAME_SIZE } from './protocol/frame-decoder.js';
import type { Endpoint } from './transport/endpoint.js';
import { type AllowedUids, resolveAllowedUsers } from './transport/peer-user.js';

/** Port every process competes for when none is given (`NODE_CLUSTER_CLIENT_PORT`). */
export const DEFAULT_PORT = 7777;
/** How long a forced follower (`isLeader: false`) waits for a leader, and how long a follower waits for its registration to be answered. */
export const DEFAULT_MAX_WAIT_TIME = 30_000;
/** How long finding or becoming a leader may take (`NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT`). */
export const DEFAULT_CONNECT_TIMEOUT = 10_000;
/** How long a call waits for its answer. */
export const DEFAULT_RESPONSE_TIMEOUT = 3_000;
/** How often a follower sends a heartbeat; the leader drops one silent for 3 intervals. */
export const DEFAULT_HEARTBEAT_INTERVAL = 20_000;
/** Largest packet accepted (header + connection object + data); a bigger one closes that connection. */
export { DEFAULT_MAX_FRAME_SIZE };
/** Unsent bytes a connection may queue for a peer that does not read before it is dropped. */
export const DEFAULT_MAX_WRITE_BUFFER = 64 * 1024 * 1024;
/** How long a packet may stay half-received (a stuck or slow sender) before its connection is closed. */
export const DEFAULT_FRAME_TIMEOUT = 10_000;
/** Default `leaderTimeout`: a leader silent for 3 s is treated as hung. */
export const DEFAULT_LEADER_TIMEOUT = 3_000;
/** `maxListeners` of the client emitters. */
export const DEFAULT_MAX_LISTENERS = 20;
/** Default `startWarningAfter`: a DataClient not ready after 10 s is warned about. */
export const DEFAULT_START_WARNING_AFTER = 10_000;

/** A logger: the console works, as do egg-logger and pino-style loggers. */
export interface Logger {
  /** Progress worth knowing but not acting on (a graceful handover). */
  info(message: string, ...args: unknown[]): void;
  /** Something went wrong and was handled (a lost leader, a dropped follower, a bad packet). */
  warn(message: string, ...args: unknown[]): void;
  /** Something failed that the application should look at. */
  error(message: string | Error, ...args: unknown[]): void;
}

/** `transcode` of cluster-client 3.x: how invoke arguments, results and subscription values become bytes. */
export type Transcode = Codec;

/** Options of `cluster(DataClient, options)`. Every one is optional. */
export interface ClusterOptions {
  /** Channel name: clients with the same name share one DataClient. @default the DataClient class name */
  name?: string;
  /** Loopback TCP port the processes compete for. @default `NODE_CLUSTER_CLIENT_PORT` or 7777 */
  port?: number;
  /**
   * A unix domain socket path to compete for instead of a TCP port: no port can be squatted,
   * the file is mode 0600 (only this user can connect), and a file left by a killed leader is
   * reclaimed. Cannot be combined with `port`. cluster-client 3.x cannot join. @default undefined (TCP)
   */
  path?: string;
  /** No sockets: one shared, reference-counted DataClient per name per process. @default `NODE_CLUSTER_CLIENT_SINGLE_MODE === '1'` */
  singleMode?: boolean;
  /** `true`: must lead (error if the port is taken). `false`: never competes, only follows. @default undefined (compete) */
  isLeader?: boolean | null;
  /** With `isLeader: false`: how long to wait for a leader to appear; also how long a follower waits for the leader's DataClient to become ready. @default 30000 */
  maxWaitTime?: number;
  /** How long finding or becoming a leader may take before `ready()` fails. @default `NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT` or 10000 */
  connectTimeout?: number;
  /** How long a call waits for its answer (including while a leader is being elected). @default 3000 */
  responseTimeout?: number;
  /** Follower heartbeat period in ms. @default 20000 */
  heartbeatInterval?: number;
  /** Leader drops followers silent for 3 heartbeat intervals. @default true */
  isCheckHeartbeat?: boolean;
  /** If set, an `error` event (ERR_CLUSTER_SUBSCRIBE_TIMEOUT) is emitted when a new subscription gets no value in this many ms. @default undefined (off) */
  subscribeTimeout?: number;
  /**
   * A DataClient (on the leader, or in single mode) still not ready this many ms after it was
   * created is warned about once, naming its class and the process; 0 turns the warning off.
   * Its followers wait meanwhile, and their calls say that the leader's DataClient is not ready.
   * @default 10000
   */
  startWarningAfter?: number;
  /** Read by cluster-client 3.x for its leader's connections; accepted for compatibility and unused. */
  requestTimeout?: number;
  /** Delegate subscribe/unSubscribe/publish/close and every async or generator method automatically. @default true */
  autoGenerate?: boolean;
  /** Push each subscription value to every subscriber (`true`) or to one chosen at random (`false`). @default true */
  isBroadcast?: boolean;
  /** Where warnings and errors go. @default console (info is silent unless NODE_DEBUG=cluster-share) */
  logger?: Logger;
  /**
   * Codec for arguments, results and values; every process on the port must use the same.
   * Setting it turns codec negotiation off. @default serialize-json with 3.x peers, tagged-v1
   * between cluster-share processes (see `negotiateCodec`)
   */
  transcode?: Transcode;
  /**
   * Offer (as a follower) and accept (as a leader) a faster codec than serialize-json when the
   * other side is also cluster-share. Peers that do not negotiate (cluster-client 3.x) always
   * get serialize-json. Ignored when `transcode` is set. @default true
   */
  negotiateCodec?: boolean;
  /**
   * Largest packet, in bytes, accepted from a peer; a bigger one (as declared in its header, so
   * it is never buffered) closes that connection with ERR_CLUSTER_PROTOCOL. The JSON connection
   * object is further limited to 1 MiB. @default 67108864 (64 MiB)
   */
  maxFrameSize?: number;
  /**
   * Unsent bytes one connection may queue for a peer that stops reading; past this the peer is
   * dropped with ERR_CLUSTER_WRITE_BUFFER_FULL, so it cannot grow this process's memory.
   * @default 67108864 (64 MiB)
   */
  maxWriteBuffer?: number;
  /** A packet whose bytes stop arriving for this long (a stuck sender) closes its connection; also how long a new connection may take to register. @default 10000 */
  frameTimeout?: number;
  /**
   * A shared secret every process of the group must have: followers and leader prove it to each
   * other in register_channel (HMAC-SHA256 over random nonces; the secret never crosses the
   * wire). A peer without it is refused with ERR_CLUSTER_AUTH_FAILED, so cluster-client 3.x
   * processes cannot join while it is set. @default `NODE_CLUSTER_CLIENT_SECRET` or undefined (off)
   */
  secret?: string;
  /**
   * Other local users allowed to use the leader's DataClient, as uids or user names (from
   * /etc/passwd), or `["*"]` for every user (what cluster-client 3.x does). On Linux the leader
   * finds who owns each loopback connection (/proc/net/tcp) and refuses other users with
   * ERR_CLUSTER_USER_REFUSED; its own user and root are always allowed. Elsewhere there is no
   * such check: see README "Security". @default `NODE_CLUSTER_CLIENT_ALLOWED_USERS` (comma-separated) or `[]` (only the leader's own user)
   */
  allowedUsers?: ReadonlyArray<string | number>;
  /**
   * A leader that answers nothing, not even a heartbeat, for this many ms is treated as hung:
   * its cluster-share followers elect an interim leader among themselves (on a per-user unix
   * socket next to the port) and are served again while it hangs; when it wakes it steps down
   * and the interim leader moves to the port. 0 turns takeover off (followers wait, as 3.x).
   * See README "A hung leader". @default 3000
   */
  leaderTimeout?: number;
  /** Turns a subscription `reg` into its key. @default json-stringify-safe */
  formatKey?: (reg: unknown) => string;
  /** `setMaxListeners` for the client and its DataClient event relay. @default 20 */
  maxListeners?: number;
}

/** Options after defaults and validation. */
export interface ResolvedOptions {
  name: string;
  port: number;
  /** The unix socket path, if one is used instead of the port. */
  path: string | undefined;
  /** Where the processes meet: `{ path }` if a path is set, else `{ port }`. */
  endpoint: Endpoint;
  singleMode: boolean;
  isLeader: boolean | undefined;
  maxWaitTime: number;
  connectTimeout: number;
  responseTimeout: number;
  heartbeatInterval: number;
  isCheckHeartbeat: boolean;
  subscribeTimeout: number | undefined;
  startWarningAfter: number;
  autoGenerate: boolean;
  isBroadcast: boolean;
  logger: Logger;
  /** The codec spoken with peers that do not negotiate: the user's `transcode`, else serialize-json. */
  transcode: Transcode;
  /** Codecs offered and accepted in register_channel, best first; empty when negotiation is off. */
  codecs: readonly NamedCodec[];
  maxFrameSize: number;
  maxWriteBuffer: number;
  frameTimeout: number;
  secret: string | undefined;
  /** Users besides the leader's own (and root) allowed to connect, or every user. */
  allowedUsers: AllowedUids;
  /** Silence after which a leader is treated as hung (0: never). */
  leaderTimeout: number;
  formatKey: (reg: unknown) => string;
  maxListeners: number;
}

const infoLog = debuglog('cluster-share');

/** The default logger: warnings and errors on the console; info only with NODE_DEBUG=cluster-share. */
export const defaultLogger: Logger = {
  info: (message, ...args) => infoLog(message, ...args),
  warn: (message, ...args) => console.warn(message, ...args),
  error: (message, ...args) => console.error(message, ...args),
};

/** json-stringify-safe, as 3.x: handles cycles, so any `reg` has a key. */
export function defaultFormatKey(reg: unknown): string {
  return stringify(reg);
}

const KNOWN_OPTIONS = new Set<string>([
  'name', 'port', 'path', 'singleMode', 'isLeader', 'maxWaitTime', 'connectTimeout', 'responseTimeout',
  'heartbeatInterval', 'isCheckHeartbeat', 'subscribeTimeout', 'startWarningAfter', 'requestTimeout', 'autoGenerate', 'isBroadcast',
  'logger', 'transcode', 'negotiateCodec', 'maxFrameSize', 'maxWriteBuffer', 'frameTimeout', 'secret', 'allowedUsers', 'leaderTimeout', 'formatKey', 'maxListeners',
]);

function envInteger(variable: string, option: string, min: number, max: number): number | undefined {
  const raw = process.env[variable];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(option, `environment variable ${variable}=${JSON.stringify(raw)} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function checkInteger(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(option, `must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

function checkBoolean(option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new InvalidOptionError(option, `must be a boolean, got ${describe(value)}`);
  return value;
}

function checkFunction<T>(option: string, value: unknown): T {
  if (typeof value !== 'function') throw new InvalidOptionError(option, `must be a function, got ${describe(value)}`);
  return value as T;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  return typeof value;
}

const MAX_TIMEOUT = 2 ** 31 - 1;

/**
 * Fills defaults (and environment variables) and validates every option.
 * Throws InvalidOptionError naming the first bad option; has no other effect.
 */
export function resolveOptions(defaultName: string, input: ClusterOptions | undefined): ResolvedOptions {
  if (input !== undefined && (input === null || typeof input !== 'object')) {
    throw new InvalidOptionError('options', `must be an object, got ${describe(input)}`);
  }
  const o: ClusterOptions = input ?? {};
  for (const key of Object.keys(o)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw new InvalidOptionError(key, `unknown option (known: ${[...KNOWN_OPTIONS].join(', ')})`);
    }
  }
  const pick = <K extends keyof ClusterOptions>(key: K): ClusterOptions[K] => o[key];

  const name = pick('name') ?? defaultName;
  if (typeof name !== 'string' || name === '') {
    const why = o.name === undefined ? 'the DataClient class has no name to default to; pass options.name' : `must be a non-empty string, got ${describe(name)}`;
    throw new InvalidOptionError('name', why);
  }
  const port = checkInteger('port', pick('port') ?? envInteger('NODE_CLUSTER_CLIENT_PORT', 'port', 1, 65535) ?? DEFAULT_PORT, 1, 65535);
  const path = pick('path');
  if (path !== undefined) {
    if (typeof path !== 'string' || path === '') throw new InvalidOptionError('path', `must be a non-empty string, got ${describe(path)}`);
    if (o.port !== undefined) throw new InvalidOptionError('path', 'cannot be combined with port: choose a TCP port or a unix socket path');
    // sun_path holds 108 bytes on Linux, 104 on macOS, including the terminating NUL.
    if (process.platform !== 'win32' && Buffer.byteLength(path) > 103) throw new InvalidOptionError('path', `must be at most 103 bytes (a unix socket path limit), got ${Buffer.byteLength(path)}`);
  }
  const isLeader = pick('isLeader');
  if (isLeader !== undefined && isLeader !== null) checkBoolean('isLeader', isLeader);
  const subscribeTimeout = pick('subscribeTimeout');
  if (subscribeTimeout !== undefined) checkInteger('subscribeTimeout', subscribeTimeout, 1, MAX_TIMEOUT);
  const logger = pick('logger') ?? defaultLogger;
  for (const level of ['info', 'warn', 'error'] as const) {
    if (!logger || typeof (logger as unknown as Record<string, unknown>)[level] !== 'function') {
      throw new InvalidOptionError('logger', `must have an ${level}() method`);
    }
  }
  const userTranscode = pick('transcode');
  if (userTranscode !== undefined && (!userTranscode || typeof userTranscode.encode !== 'function' || typeof userTranscode.decode !== 'function')) {
    throw new InvalidOptionError('transcode', 'must be an object with encode(value) and decode(buffer) functions');
  }
  const secret = pick('secret') ?? (process.env.NODE_CLUSTER_CLIENT_SECRET || undefined);
  if (secret !== undefined && (typeof secret !== 'string' || secret === '')) {
    throw new InvalidOptionError('secret', `must be a non-empty string, got ${describe(secret)}`);
  }
  const allowedList = pick('allowedUsers');
  if (allowedList !== undefined && !Array.isArray(allowedList)) throw new InvalidOptionError('allowedUsers', `must be an array of uids or user names, got ${describe(allowedList)}`);
  const allowedEnv = process.env.NODE_CLUSTER_CLIENT_ALLOWED_USERS;
  const allowedUsers = allowedList !== undefined ? resolveAllowedUsers(allowedList, 'allowedUsers')
    : resolveAllowedUsers(allowedEnv ? allowedEnv.split(',').map(s => s.trim()).filter(Boolean) : [], 'allowedUsers (NODE_CLUSTER_CLIENT_ALLOWED_USERS)');
  const negotiateCodec = checkBoolean('negotiateCodec', pick('negotiateCodec') ?? true);

  return {
    name,
    port,
    path,
    endpoint: path === undefined ? { port } : { path },
    singleMode: checkBoolean('singleMode', pick('singleMode') ?? process.env.NODE_CLUSTER_CLIENT_SINGLE_MODE === '1'),
    isLeader: isLeader ?? undefined,
    maxWaitTime: checkInteger('maxWaitTime', pick('maxWaitTime') ?? DEFAULT_MAX_WAIT_TIME, 0, MAX_TIMEOUT),
    connectTimeout: checkInteger('connectTimeout', pick('connectTimeout') ?? envInteger('NODE_CLUSTER_CLIENT_CONNECT_TIMEOUT', 'connectTimeout', 1, MAX_TIMEOUT) ?? DEFAULT_CONNECT_TIMEOUT, 1, MAX_TIMEOUT),
    responseTimeout: checkInteger('responseTimeout', pick('responseTimeout') ?? DEFAULT_RESPONSE_TIMEOUT, 1, MAX_TIMEOUT),
    heartbeatInterval: checkInteger('heartbeatInterval', pick('heartbeatInterval') ?? DEFAULT_HEARTBEAT_INTERVAL, 1, MAX_TIMEOUT),
    isCheckHeartbeat: checkBoolean('isCheckHeartbeat', pick('isCheckHeartbeat') ?? true),
    subscribeTimeout,
    startWarningAfter: checkInteger('startWarningAfter', pick('startWarningAfter') ?? DEFAULT_START_WARNING_AFTER, 0, MAX_TIMEOUT),
    autoGenerate: checkBoolean('autoGenerate', pick('autoGenerate') ?? true),
    isBroadcast: checkBoolean('isBroadcast', pick('isBroadcast') ?? true),
    logger,
    transcode: userTranscode ?? serializeJsonCodec,
    codecs: negotiateCodec && userTranscode === undefined ? NEGOTIABLE_CODECS : [],
    // At least a header plus a small connection object; at most what an int32 length allows.
    maxFrameSize: checkInteger('maxFrameSize', pick('maxFrameSize') ?? DEFAULT_MAX_FRAME_SIZE, 1024, 2 ** 31 - 1),
    maxWriteBuffer: checkInteger('maxWriteBuffer', pick('maxWriteBuffer') ?? DEFAULT_MAX_WRITE_BUFFER, 1024, Number.MAX_SAFE_INTEGER),
    frameTimeout: checkInteger('frameTimeout', pick('frameTimeout') ?? DEFAULT_FRAME_TIMEOUT, 1, MAX_TIMEOUT),
    secret,
    allowedUsers,
    leaderTimeout: checkInteger('leaderTimeout', pick('leaderTimeout') ?? DEFAULT_LEADER_TIMEOUT, 0, MAX_TIMEOUT),
    formatKey: checkFunction('formatKey', pick('formatKey') ?? defaultFormatKey),
    maxListeners: checkInteger('maxListeners', pick('maxListeners') ?? DEFAULT_MAX_LISTENERS, 0, MAX_TIMEOUT),
  };
}
