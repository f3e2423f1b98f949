/**
 * Every error cluster-share raises, in one place. Each class has a stable `name`
 * and a stable `code` (public API: match on `code`, never on the message).
 */

/** Fields kept when an error crosses the wire (what cluster-client 3.x sends too). */
export interface SerializedError {
  /** The error's class name, e.g. `TypeError`. */
  name?: string;
  /** Its message. */
  message?: string;
  /** A string, or a number as some DataClients use (kept as it is, as 3.x does). */
  code?: string | number;
  /** The stack where it was thrown (the leader's, for a follower). */
  stack?: string;
}

/** Base class of every error cluster-share raises itself. */
export class ClusterShareError extends Error {
  /** Stable, documented error code, e.g. `ERR_CLUSTER_RESPONSE_TIMEOUT`. */
  readonly code: string;

  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An option has a bad value or an unknown name. Thrown synchronously, before anything starts. */
export class InvalidOptionError extends ClusterShareError {
  /** The option at fault, e.g. `port`. */
  readonly option: string;
  constructor(option: string, message: string) {
    super(`[cluster-share] invalid option "${option}": ${message}`, 'ERR_CLUSTER_INVALID_OPTION');
    this.option = option;
  }
}

/** An argument of a public call is wrong (a listener that is not a function, ...). */
export class InvalidArgumentError extends ClusterShareError {
  constructor(message: string) {
    super(`[cluster-share] ${message}`, 'ERR_CLUSTER_INVALID_ARGUMENT');
  }
}

/** `delegate(from, to)` names a target that does not exist, or a method the DataClient lacks. */
export class InvalidDelegateError extends ClusterShareError {
  constructor(message: string) {
    super(`[cluster-share] ${message}`, 'ERR_CLUSTER_INVALID_DELEGATE');
  }
}

/**
 * No answer to a call within `responseTimeout` (or no leader to send it to in that time). When
 * the leader did not answer a call it received, the message starts as 3.x's does:
 * "Server no response in 3000ms, address#127.0.0.1:7777".
 */
export class ResponseTimeoutError extends ClusterShareError {
  /** The timeout that passed, in ms. */
  readonly timeout: number;
  /** The invoked method. */
  readonly method: string;
  /** `address` is the leader's (`127.0.0.1:7777`, or a socket path) when it did not answer. */
  constructor(method: string, timeout: number, detail: string, address?: string) {
    super(`${address === undefined ? '' : `Server no response in ${timeout}ms, address#${address} `}[cluster-share] ${method}: no response in ${timeout}ms (${detail})`, 'ERR_CLUSTER_RESPONSE_TIMEOUT');
    this.timeout = timeout;
    this.method = method;
  }
}

/**
 * The caller aborted the call through its AbortSignal (`withCallOptions({ signal })`). The
 * call may still run on the leader; its result, if it comes, is dropped. `cause` is the
 * signal's reason.
 */
export class CallAbortedError extends ClusterShareError {
  /** The invoked method. */
  readonly method: string;
  constructor(method: string, reason: unknown) {
    const why = reason instanceof Error ? reason.message : reason === undefined ? 'no reason given' : String(reason);
    super(`[cluster-share] ${method} was aborted: ${why}`, 'ERR_CLUSTER_ABORTED', { cause: reason });
    this.name = 'AbortError';
    this.method = method;
  }
}

/**
 * The connection to the leader was lost while this call was in flight. The call may or may not
 * have run on the leader; it is never re-sent behind the caller's back (at most once).
 */
export class LeaderLostError extends ClusterShareError {
  /** The invoked method. */
  readonly method: string;
  constructor(method: string, options?: { cause?: unknown }) {
    super(`[cluster-share] ${method}: the connection to the leader was lost while the call was in flight; it may or may not have run`, 'ERR_CLUSTER_LEADER_LOST', options);
    this.method = method;
  }
}

/** The call was made on, or was pending in, a client that has been closed. */
export class ClientClosedError extends ClusterShareError {
  constructor(name: string, what: string) {
    super(`[cluster-share] client "${name}" is closed: ${what}`, 'ERR_CLUSTER_CLIENT_CLOSED');
  }
}

/** "port 7777" for a TCP port, "socket /run/app.sock" for a unix socket path. */
function where(at: number | string): string {
  return typeof at === 'number' ? `port ${at}` : `socket ${at}`;
}

/** An error about the meeting point: carries the TCP port or the unix socket path, whichever is used. */
export abstract class EndpointError extends ClusterShareError {
  /** The TCP port, or undefined when a unix socket `path` is used. */
  readonly port: number | undefined;
  /** The unix socket path, or undefined for a TCP port. */
  readonly path: string | undefined;
  constructor(message: string, code: string, at: number | string, options?: { cause?: unknown }) {
    super(message, code, options);
    this.port = typeof at === 'number' ? at : undefined;
    this.path = typeof at === 'string' ? at : undefined;
  }
}

/** `isLeader: true` but another process (or client) already holds the port or socket path. */
export class PortInUseError extends EndpointError {
  constructor(name: string, at: number | string, options?: { cause?: unknown }) {
    super(`[cluster-share] client "${name}" must lead (isLeader: true) but ${where(at)} is already taken`, 'ERR_CLUSTER_PORT_IN_USE', at, options);
  }
}

/**
 * Something that is not a cluster-client protocol leader holds the port (e.g. an HTTP server):
 * it answered bytes that are not packets, or did not answer a heartbeat in time. For a socket
 * path: the path exists and is not a socket.
 */
export class PortConflictError extends EndpointError {
  constructor(name: string, at: number | string, why: string, options?: { cause?: unknown }) {
    const fix = typeof at === 'number' ? 'choose another port with options.port or NODE_CLUSTER_CLIENT_PORT' : 'choose another options.path';
    super(`[cluster-share] client "${name}": ${where(at)} is held by a program that does not speak the cluster-client protocol (${why}); ${fix}`, 'ERR_CLUSTER_PORT_CONFLICT', at, options);
  }
}

/**
 * No leader could be reached in time (`connectTimeout`, or `maxWaitTime` with `isLeader: false`).
 * A forced follower (`isLeader: false`) whose last attempt failed gets 3.x's message word for
 * word ("[ClusterClient:Name] follower try to connect leader failed, cause by ..."): users' tests
 * compare it. The code, `port`/`path`, `timeout` and `cause` are there either way.
 */
export class ConnectTimeoutError extends EndpointError {
  /** How long the client looked for a leader, in ms. */
  readonly timeout: number;
  constructor(name: string, at: number | string, timeout: number, options?: { cause?: unknown; forcedFollower?: boolean }) {
    const cause = options?.cause;
    const message = options?.forcedFollower && cause instanceof Error
      ? `[ClusterClient:${name}] follower try to connect leader failed, cause by ${cause.message}`
      : `[cluster-share] client "${name}" found no leader on ${typeof at === 'number' ? `127.0.0.1:${at}` : `socket ${at}`} within ${timeout}ms${cause instanceof Error ? `: ${cause.message}` : ''}`;
    super(message, 'ERR_CLUSTER_CONNECT_TIMEOUT', at, cause === undefined ? undefined : { cause });
    this.timeout = timeout;
  }
}

/** The leader process never created the channel (client name) this follower registered. */
export class ChannelNotFoundError extends ClusterShareError {
  /** The leader's pid, if it said (cluster-share leaders do). */
  readonly leaderPid: number | undefined;
  /** The channels the leader serves, if it said. */
  readonly channels: readonly string[] | undefined;
  constructor(channel: string, waited: number, leaderPid?: number, channels?: readonly string[]) {
    const leader = leaderPid === undefined ? 'the leader' : `the leader (pid ${leaderPid})`;
    const serves = channels === undefined ? '' : `; it serves ${channels.length === 0 ? 'no channel' : channels.map(c => `"${c}"`).join(', ')}`;
    super(`[cluster-share] ${leader} has no channel "${channel}" (waited ${waited}ms for it to be created)${serves}. If another application leads on this port, give each its own port (options.port or NODE_CLUSTER_CLIENT_PORT)`, 'ERR_CLUSTER_CHANNEL_NOT_FOUND');
    this.leaderPid = leaderPid;
    this.channels = channels;
  }
}

/**
 * Two different DataClient classes share one channel name on one port: the follower's class
 * (or a delegated method) is not the leader's. Refused, in the leader's process at `create()`
 * and by the leader for a follower of another process, so no client is ever served by another
 * class's DataClient.
 */
export class ChannelMismatchError extends ClusterShareError {
  /** The channel (client name). */
  readonly channel: string;
  /** The class of the DataClient that serves the channel. */
  readonly leaderClass: string;
  /** The class of the client that was refused. */
  readonly clientClass: string;
  /** The leader's pid, when the leader is another process. */
  readonly leaderPid: number | undefined;
  constructor(channel: string, leaderClass: string, clientClass: string, why: string, leaderPid?: number) {
    const leader = leaderPid === undefined ? 'this process' : `the leader (pid ${leaderPid})`;
    super(`[cluster-share] channel "${channel}" is served by ${leader} with DataClient class ${leaderClass}, but this client's class is ${clientClass} (${why}): two different clients use one name on one port; give one of them another name (options.name) or port`, 'ERR_CLUSTER_CHANNEL_MISMATCH');
    this.channel = channel;
    this.leaderClass = leaderClass;
    this.clientClass = clientClass;
    this.leaderPid = leaderPid;
  }
}


/**
 * The leader's DataClient is not available: its constructor threw or its `ready` failed
 * (reported to every follower). The message is the DataClient's own, word for word, as 3.x
 * hands that error to its followers; `cause` is that error (name, code and the leader's stack).
 */
export class LeaderStartError extends ClusterShareError {
  /** The channel (client name) whose DataClient failed. */
  readonly channel: string;
  constructor(channel: string, cause: SerializedError) {
    super(cause.message ?? `[cluster-share] the leader of "${channel}" failed to start its DataClient (no reason given)`, 'ERR_CLUSTER_LEADER_START_FAILED', { cause: reviveError(cause) });
    this.channel = channel;
  }
}

/**
 * The DataClient has no method of that name, or none a peer may invoke (the leader answers this
 * instead of crashing).
 */
export class MethodNotFoundError extends ClusterShareError {
  constructor(method: string, why?: string) {
    super(why === undefined ? `[cluster-share] the DataClient has no method "${method}"` : `[cluster-share] the DataClient's method "${method}" cannot be invoked: ${why}`, 'ERR_CLUSTER_METHOD_NOT_FOUND');
  }
}

/** A follower got no subscription value within `subscribeTimeout`. Emitted as an `error` event. */
export class SubscribeTimeoutError extends ClusterShareError {
  /** `cost`: the ms that actually passed (3.x's wording: "subscribe timeout for KEY, cost: Nms, expect is Mms"). */
  constructor(key: string, timeout: number, cost = timeout) {
    super(`[cluster-share] subscribe timeout for ${key}, cost: ${cost}ms, expect is ${timeout}ms (no value within subscribeTimeout)`, 'ERR_CLUSTER_SUBSCRIBE_TIMEOUT');
  }
}

/** A peer sent bytes that are not a valid packet; that one connection is closed. */
export class ProtocolError extends ClusterShareError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`[cluster-share] protocol error: ${message}`, 'ERR_CLUSTER_PROTOCOL', options);
  }
}

/**
 * A value (invoke argument, result or subscription value) did not decode with the codec of
 * that connection. Only that call fails; the connection stays open (the stream is in sync).
 */
export class DecodeError extends ClusterShareError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`[cluster-share] value does not decode: ${message}`, 'ERR_CLUSTER_DECODE', options);
  }
}

/** A peer stopped reading: more unsent bytes queued for it than `maxWriteBuffer`; it was dropped. */
export class WriteBufferFullError extends ClusterShareError {
  constructor(queued: number, limit: number) {
    super(`[cluster-share] peer is not reading: ${queued} unsent bytes exceed maxWriteBuffer ${limit}; connection dropped`, 'ERR_CLUSTER_WRITE_BUFFER_FULL');
  }
}

/**
 * The shared secret (`secret` option) did not match: a leader refused a follower that does not
 * prove it, or a follower refused a leader that does not (or that has no secret at all).
 */
export class AuthError extends ClusterShareError {
  constructor(message: string) {
    super(`[cluster-share] authentication failed: ${message}`, 'ERR_CLUSTER_AUTH_FAILED');
  }
}

/**
 * The leader answered nothing, not even a heartbeat, for `leaderTimeout` ms (a stopped, paused or
 * blocked process). A cluster-share follower then leaves it for an interim leader (README "A hung
 * leader"); its calls in flight fail with ERR_CLUSTER_LEADER_LOST whose `cause` is this error:
 * they may still run when the hung leader wakes, so they are never sent again.
 */
export class LeaderUnresponsiveError extends ClusterShareError {
  /** How long the leader had answered nothing, in ms. */
  readonly silentMs: number;
  /** The silent leader's pid, if known. */
  readonly leaderPid: number | undefined;
  constructor(name: string, silentMs: number, leaderPid: number | undefined, what = 'leaving it for an interim leader') {
    super(`[cluster-share] "${name}": the leader${leaderPid === undefined ? '' : ` (pid ${leaderPid})`} answered nothing for ${silentMs}ms (leaderTimeout); ${what}`, 'ERR_CLUSTER_LEADER_UNRESPONSIVE');
    this.silentMs = silentMs;
    this.leaderPid = leaderPid;
  }
}

/**
 * The leader refused a connection because another local user owns it (Linux: the leader reads
 * the owner of every loopback connection in /proc/net/tcp). Only the leader's own user and root
 * may use its DataClient unless `allowedUsers` (or NODE_CLUSTER_CLIENT_ALLOWED_USERS) widens
 * the rule. A follower gets it from `ready()`; it is not retried.
 */
export class UserRefusedError extends ClusterShareError {
  /** The uid that was refused (undefined when the connection's owner could not be found). */
  readonly uid: number | undefined;
  constructor(message: string, uid: number | undefined) {
    super(`[cluster-share] ${message}`, 'ERR_CLUSTER_USER_REFUSED');
    this.uid = uid;
  }
}

/**
 * A packet this process was about to send is larger than `maxFrameSize` (the peer would refuse
 * it and drop the whole connection). Checked before anything is written: only that call (or that
 * subscription value) fails, the connection and the other calls on it are untouched.
 */
export class FrameTooLargeError extends ClusterShareError {
  /** The packet's size in bytes. */
  readonly size: number;
  /** The limit, `maxFrameSize`. */
  readonly limit: number;
  constructor(what: string, size: number, limit: number) {
    super(`[cluster-share] ${what} is ${size} bytes on the wire, more than maxFrameSize ${limit}; not sent (raise maxFrameSize in every process to allow it)`, 'ERR_CLUSTER_FRAME_TOO_LARGE');
    this.size = size;
    this.limit = limit;
  }
}

/**
 * The leader dropped a follower that sent nothing for 3 heartbeat intervals. Emitted as an
 * `'error'` event on the leader's client. Its `name` and the start of its message are 3.x's
 * (`ClusterClientNoResponseError`, "client no response in ...").
 */
export class HeartbeatTimeoutError extends ClusterShareError {
  constructor(idle: number, maxIdle: number, follower = 'a follower') {
    super(`[cluster-share] client no response in ${idle}ms exceeding maxIdleTime ${maxIdle}ms, maybe the connection is close on other side. Dropped ${follower}: it sent nothing for 3 heartbeat intervals`, 'ERR_CLUSTER_HEARTBEAT_TIMEOUT');
    this.name = 'ClusterClientNoResponseError';
  }
}

/**
 * A call a follower sent failed in the leader's DataClient. The follower's caller gets the
 * DataClient's own error; the leader's client emits this one as an `'error'` event (3.x emits
 * the DataClient's error there), so an application that logs its leader's errors sees failing
 * calls. `cause` is the DataClient's error.
 */
export class FollowerCallError extends ClusterShareError {
  /** The method the follower called. */
  readonly method: string;
  /** The follower's pid, if it said (cluster-share followers do; 3.x followers do not). */
  readonly followerPid: number | undefined;

  constructor(name: string, method: string, followerPid: number | undefined, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`[cluster-share] "${name}": ${method}() called by follower ${followerPid === undefined ? '(pid unknown)' : `pid ${followerPid}`} failed: ${why}`, 'ERR_CLUSTER_FOLLOWER_CALL_FAILED', { cause });
    this.method = method;
    this.followerPid = followerPid;
  }
}

/**
 * An error the DataClient threw on the leader, rebuilt on the follower: same `name`, `message`
 * and `code`; `stack` is the leader's stack. It is an `Error`; the original class is not
 * rebuilt (classes do not cross process boundaries).
 */
export function reviveError(data: SerializedError | undefined | null): Error {
  const source: SerializedError = data && typeof data === 'object' ? data : { message: String(data) };
  const err = new Error(typeof source.message === 'string' ? source.message : '') as Error & Record<string, unknown>;
  // Copy the fields the leader sent (name, code, stack and any extra ones), but never an
  // undefined one over the local default, and never __proto__ (it would not be a field).
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined || key === '__proto__' || key === 'message') continue;
    err[key] = value;
  }
  return err;
}

/** The inverse of reviveError: the fields that cross the wire for an error. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown };
    return {
      name: e.name,
      message: e.message,
      code: typeof e.code === 'string' || typeof e.code === 'number' ? e.code : e.code === undefined ? undefined : String(e.code),
      stack: e.stack,
    };
  }
  return { name: 'Error', message: String(err), code: undefined, stack: undefined };
}
