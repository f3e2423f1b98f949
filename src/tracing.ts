/**
 * Tracing and diagnostics through `node:diagnostics_channel` (README "Tracing and diagnostics").
 * A library publishes, an instrumentation (OpenTelemetry, dd-trace, a test) subscribes; with no
 * subscriber nothing is built or published.
 *
 * TracingChannels (start / end / asyncStart / asyncEnd / error, as Node and undici use them):
 * - `cluster-share:invoke`: every delegated call, on the calling side, in every role;
 * - `cluster-share:serve`: the leader running a call a follower sent.
 * Plain channels: `cluster-share:role`, `cluster-share:election`, `cluster-share:subscription`.
 *
 * Context crosses the hop: the `carrier` of an invoke message (string entries a subscriber adds
 * at `start`, e.g. W3C `traceparent`) travels in the invoke packet (our extension field, which
 * 3.x leaders ignore) and is the `carrier` of the serve message in the leader.
 */
import dc from 'node:diagnostics_channel';
import type { ElectionReason } from './stats.js';

/** Names of the channels (public API). */
export const TRACING_CHANNELS = {
  /** TracingChannel: a delegated call on the calling side (`tracing:cluster-share:invoke:start`, ...). */
  invoke: 'cluster-share:invoke',
  /** TracingChannel: the leader running a follower's call. */
  serve: 'cluster-share:serve',
  /** Channel: a client's role changed (it leads, follows, or lost its role). */
  role: 'cluster-share:role',
  /** Channel: an election started or ended. */
  election: 'cluster-share:election',
  /** Channel: a subscription value was delivered to a client's listeners. */
  subscription: 'cluster-share:subscription',
} as const;

/** Where a call went: the role of the calling client when it was sent (`electing` while it waits for a leader). */
export type TraceRole = 'leader' | 'follower' | 'local' | 'electing';

/**
 * Message of `cluster-share:invoke` (the same object for every event of one call). At `start`,
 * `role` and `leaderPid` are the client's at the time of the call; a call made while electing is
 * updated when it is sent. `result` or `error` are set before `asyncStart` (and `error` on the
 * `error` event). A oneway call has `start` and `end` only.
 */
export interface InvokeTraceMessage {
  /** The client's name (its channel). */
  name: string;
  /** The delegated method. */
  method: string;
  /** A oneway call (no answer). */
  oneway: boolean;
  /** Where the call was sent. */
  role: TraceRole;
  /** This process. */
  pid: number;
  /** The process holding the DataClient, where known (undefined while electing or behind a 3.x leader). */
  leaderPid: number | undefined;
  /**
   * Context to carry to the leader: a subscriber of `start` may add string entries (W3C
   * `traceparent`, `tracestate`, `baggage`, ...). At most 16 entries, names of 1-64 characters
   * out of `A-Za-z0-9_.-`, 4096 bytes in all; anything else is not sent (a warning is logged
   * once). An empty carrier adds no bytes to the packet.
   */
  carrier: Record<string, string>;
  /** The call's arguments. */
  readonly args: readonly unknown[];
  /** The result, once answered. */
  result?: unknown;
  /** The error, if it failed. */
  error?: unknown;
}

/** Message of `cluster-share:serve`: a leader runs a call one of its followers sent. */
export interface ServeTraceMessage {
  /** The channel's name. */
  name: string;
  /** The invoked method. */
  method: string;
  /** A oneway call (nothing is answered). */
  oneway: boolean;
  /** Always `leader`. */
  role: 'leader';
  /** This (the leader's) process. */
  pid: number;
  /** The follower's pid, if it said (cluster-share followers do, 3.x followers do not). */
  followerPid: number | undefined;
  /** The caller's carrier as it arrived (validated; empty if the caller sent none or a bad one). */
  carrier: Readonly<Record<string, string>>;
  /** The decoded arguments. */
  readonly args: readonly unknown[];
  /** The DataClient's result. */
  result?: unknown;
  /** The DataClient's error. */
  error?: unknown;
}

/** Message of `cluster-share:role`: a client leads, follows, went local (single mode), or lost its role. */
export interface RoleTraceMessage {
  /** The client's name. */
  name: string;
  /** This process. */
  pid: number;
  /** The new role (undefined: it lost its role and elects again, or closed). */
  role: 'leader' | 'follower' | 'local' | undefined;
  /** Why: the election's reason, or `closed`. */
  reason: ElectionReason | 'closed';
  /** The process holding the DataClient now, where known. */
  leaderPid: number | undefined;
  /** True for an interim leader (README "A hung leader"). */
  interim: boolean;
}

/** Message of `cluster-share:election`. */
export interface ElectionTraceMessage {
  /** The client's name. */
  name: string;
  /** This process. */
  pid: number;
  /** `start` or `end`. */
  phase: 'start' | 'end';
  /** Why it started. */
  reason: ElectionReason;
  /** When it started (Date.now() ms; `start` only). */
  startedAt?: number;
  /** The outcome (`end` only). */
  role?: 'leader' | 'follower';
  /** The leader's pid (`end` only, where known). */
  leaderPid?: number;
  /** How long it took (`end` only). */
  durationMs?: number;
}

/** Message of `cluster-share:subscription`: a value was delivered to a client's listeners. */
export interface SubscriptionTraceMessage {
  /** The client's name. */
  name: string;
  /** This process. */
  pid: number;
  /** The subscription key (`formatKey(reg)`). */
  key: string;
  /** The client's role when the value arrived. */
  role: 'leader' | 'follower' | 'local' | undefined;
  /** Listeners called. */
  listeners: number;
}

/** @internal */
export const invokeChannel = dc.tracingChannel(TRACING_CHANNELS.invoke);
/** @internal */
export const serveChannel = dc.tracingChannel(TRACING_CHANNELS.serve);
/** @internal */
export const roleChannel = dc.channel(TRACING_CHANNELS.role);
/** @internal */
export const electionChannel = dc.channel(TRACING_CHANNELS.election);
/** @internal */
export const subscriptionChannel = dc.channel(TRACING_CHANNELS.subscription);

type AnyTracingChannel = typeof invokeChannel;

/** Whether anything listens to a TracingChannel (Node 18 has no `hasSubscribers` on it). */
function traced(channel: AnyTracingChannel): boolean {
  return channel.start.hasSubscribers || channel.end.hasSubscribers || channel.asyncStart.hasSubscribers
    || channel.asyncEnd.hasSubscribers || channel.error.hasSubscribers;
}

/** @internal */
export function invokeTraced(): boolean {
  return traced(invokeChannel);
}

/** @internal */
export function serveTraced(): boolean {
  return traced(serveChannel);
}

const MAX_CARRIER_ENTRIES = 16;
const MAX_CARRIER_BYTES = 4096;
const CARRIER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The carrier as it may cross the wire: undefined when it is empty or not valid (see
 * InvokeTraceMessage.carrier). `why` receives the reason a non-empty carrier was refused.
 */
export function checkCarrier(carrier: unknown, why?: (reason: string) => void): Record<string, string> | undefined {
  if (carrier === null || typeof carrier !== 'object' || Array.isArray(carrier)) {
    if (carrier !== undefined) why?.('it is not an object');
    return undefined;
  }
  const entries = Object.entries(carrier as Record<string, unknown>);
  if (entries.length === 0) return undefined;
  if (entries.length > MAX_CARRIER_ENTRIES) {
    why?.(`it has ${entries.length} entries, more than ${MAX_CARRIER_ENTRIES}`);
    return undefined;
  }
  let bytes = 0;
  const clean: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (!CARRIER_NAME.test(key) || key === '__proto__') {
      why?.(`entry name ${JSON.stringify(key.slice(0, 80))} is not 1-64 characters out of A-Za-z0-9_.-`);
      return undefined;
    }
    if (typeof value !== 'string') {
      why?.(`entry ${key} is a ${typeof value}, not a string`);
      return undefined;
    }
    bytes += key.length + Buffer.byteLength(value);
    if (bytes > MAX_CARRIER_BYTES) {
      why?.(`it is more than ${MAX_CARRIER_BYTES} bytes`);
      return undefined;
    }
    clean[key] = value;
  }
  return clean;
}
