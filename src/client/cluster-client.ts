/**
 * The client a user holds. It owns one role at a time (leader, follower or local) and keeps
 * everything that must survive a change of leader: the subscriptions and their listeners, the
 * publications, and the calls made while there is no leader.
 *
 * State machine (one transition function, #setState):
 *   electing ──► leading | following | local ──(leader lost)──► electing
 *   any ──close()──► closed
 *
 * Offline rules: a call made while electing waits (up to responseTimeout) and goes to the next
 * leader; a call in flight when the leader is lost fails with ERR_CLUSTER_LEADER_LOST and is
 * never re-sent (at most once); subscriptions and publications are replayed to every new leader.
 */
import { debuglog } from 'node:util';
import { Base } from '../base.js';
import {
  AuthError, CallAbortedError, ChannelMismatchError, ClientClosedError, ConnectTimeoutError, InvalidArgumentError, InvalidOptionError, LeaderStartError, PortConflictError, PortInUseError,
  LeaderUnresponsiveError, ResponseTimeoutError, SubscribeTimeoutError, UserRefusedError,
} from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import {
  type CallOptions, checkCallOptions, delegateNames, type Descriptor, type DelegateNames, type InvokeCallback, invokeDelegate, onewayDelegate,
} from '../delegates.js';
import type {
  ClientStats, ClusterClientEvents, ElectionEndEvent, ElectionReason, ElectionStats, TakeoverEvent,
} from '../stats.js';
import { describeEndpoint, endpointKey } from '../transport/endpoint.js';
import { classChain, type DataClientIdentity, identityMismatch } from '../protocol/identity.js';
import type { DataClientClass } from '../cluster.js';
import { addTraffic, noTraffic } from '../stats.js';
import { DataClientHost, SUBSCRIPTION_KEY_PREFIX } from '../roles/host.js';
import { FollowerRole } from '../roles/follower.js';
import { LeaderRole } from '../roles/leader.js';
import { acquireSingle, LocalRole } from '../roles/local.js';
import type { Role } from '../roles/role.js';
import { PortServer } from '../transport/port-server.js';
import { rendezvousOf } from '../transport/rendezvous.js';
import { TAKEN_OVER } from '../protocol/packet.js';
import { CallControl } from './call-control.js';
import { symbols } from '../symbols.js';
import {
  checkCarrier, electionChannel, invokeChannel, type InvokeTraceMessage, invokeTraced, roleChannel, type RoleTraceMessage, subscriptionChannel,
  type SubscriptionTraceMessage,
} from '../tracing.js';

const debug = debuglog('cluster-share:client');

/** Where the client is in its life. */
export type ClientState = 'electing' | 'leading' | 'following' | 'local' | 'closed';

/** A subscription listener: receives each value pushed for its `reg`. */
export type SubscribeListener = (value: never) => void;

interface Subscription {
  reg: unknown;
  listeners: Array<(value: unknown) => void>;
}

interface QueuedCall {
  method: string;
  args: unknown[];
  callback: InvokeCallback | undefined;
  /** Gives up after responseTimeout (none for a call with its own timeout). */
  timer: NodeJS.Timeout | undefined;
  /** Set for a call with per-call options: it learns where it was sent (to forget it on abort). */
  control: CallControl | undefined;
  /** Its tracing message, if an instrumentation listens (src/tracing.ts). */
  trace: InvokeTraceMessage | undefined;
}


/** Socket errors that mean "no leader right now": compete again. */
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ERR_CLUSTER_LEADER_LOST', 'ECONNABORTED', 'ENOENT']);

function isTransient(err: unknown): boolean {
  return typeof err === 'object' && err !== null && TRANSIENT_CODES.has(String((err as { code?: unknown }).code));
}

/** Short jittered pause between election attempts: 2-10 ms at first, growing to at most 250 ms. */
function retryDelay(attempt: number, signal: AbortSignal): Promise<void> {
  const ceiling = Math.min(250, 10 * 2 ** Math.min(attempt, 5));
  return retryAfter(2 + Math.random() * ceiling, signal);
}

function ignoreReadyError(): void {}

/** Registrations closed unanswered in a row (the port still held) that prove a squatter. */
const SQUATTER_DROPS = 3;

/** Failures a retry cannot cure: the client was closed, or it is configured wrong. */
function isFinalStartError(err: unknown): boolean {
  return err instanceof ClientClosedError || err instanceof AuthError || err instanceof InvalidOptionError || err instanceof InvalidArgumentError
    || err instanceof ChannelMismatchError || err instanceof UserRefusedError;
}

/** How long a leader whose DataClient failed keeps the port, answering the failure to followers. */
const FAILED_LEADER_HOLD = 1_000;

/** Pause before retrying a failed start: 1 s, doubling each time, at most 30 s. */
const START_RETRY_MIN = 1_000;
const START_RETRY_MAX = 30_000;

/** Resolves after `ms`, or at once when `signal` aborts (the client closed). */
function retryAfter(ms: number, signal: AbortSignal, unref = false): Promise<void> {
  return new Promise(resolve => {
    const timer = setTimeout(done, ms);
    if (unref) timer.unref();
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** Stands for a DataClient whose constructor threw: its ready fails with that error. */
class FailedDataClient {
  readonly #error: unknown;
  constructor(error: unknown) {
    this.#error = error;
  }

  ready(callback: (err: unknown) => void): void {
    callback(this.#error instanceof Error ? this.#error : new Error(String(this.#error)));
  }
}

/** The DataClient identity of each channel of this process, with how many open clients use it. */
const channelIdentities = new Map<string, { identity: DataClientIdentity; prototype: object; clients: number }>();

/** One more client of a channel of this process; another DataClient class on it is refused. */
function claimChannelIdentity(key: string, name: string, identity: DataClientIdentity, prototype: object): void {
  const known = channelIdentities.get(key);
  if (!known) {
    channelIdentities.set(key, { identity, prototype, clients: 1 });
    return;
  }
  const why = identityMismatch(classChain(known.prototype), m => typeof (known.prototype as Record<string, unknown>)[m] === 'function', identity);
  if (why !== undefined) throw new ChannelMismatchError(name, known.identity.class, identity.class, why);
  known.clients++;
}

function releaseChannelIdentity(key: string): void {
  const known = channelIdentities.get(key);
  if (known && --known.clients === 0) channelIdentities.delete(key);
}

/** Every client of this process that is not closed yet (for closeAll). */
const openClients = new Set<ClusterClient>();

/**
 * Closes every cluster-share client of this process gracefully: followers first (their calls in
 * flight are answered), then leaders (each hands over to a successor). Resolves when all are
 * closed; a client that fails to close does not stop the others.
 */
export async function closeAll(): Promise<void> {
  const clients = [...openClients];
  await Promise.allSettled(clients.filter(c => !c.isClusterClientLeader).map(c => c[symbols.close]()));
  await Promise.allSettled(clients.filter(c => c.isClusterClientLeader).map(c => c[symbols.close]()));
}

/** Typed overloads of the emitter methods for the events in ClusterClientEvents (merged into the class). */
export interface ClusterClient {
  /** Listens to one of the client's own events (typed), or to an event of the DataClient. */
  on<E extends keyof ClusterClientEvents>(event: E, listener: (...args: ClusterClientEvents[E]) => void): this;
  /** Listens to an event the DataClient emits (re-emitted on every client). */
  on<E extends string | symbol>(event: E extends keyof ClusterClientEvents ? never : E, listener: (...args: never[]) => void): this;
  /** Listens once to one of the client's own events (typed), or to an event of the DataClient. */
  once<E extends keyof ClusterClientEvents>(event: E, listener: (...args: ClusterClientEvents[E]) => void): this;
  /** Listens once to an event the DataClient emits. */
  once<E extends string | symbol>(event: E extends keyof ClusterClientEvents ? never : E, listener: (...args: never[]) => void): this;
  /** Removes a listener of one of the client's own events. */
  off<E extends keyof ClusterClientEvents>(event: E, listener: (...args: ClusterClientEvents[E]) => void): this;
  /** Removes a listener of a DataClient event. */
  off<E extends string | symbol>(event: E extends keyof ClusterClientEvents ? never : E, listener: (...args: never[]) => void): this;
}

/**
 * The client a process holds, whatever its role: the delegated methods of the DataClient are
 * added to it by `create()`. See README "Usage" and "Seeing what it does".
 */
export class ClusterClient extends Base {
  readonly #options: ResolvedOptions;
  readonly #createRealClient: () => object;
  readonly #names: DelegateNames;
  #state: ClientState = 'electing';
  #role: Role | undefined;
  #queue: QueuedCall[] = [];
  readonly #subs = new Map<string, Subscription>();
  readonly #pubs = new Map<string, unknown>();
  readonly #values = new Map<string, unknown>();
  readonly #subscribeTimers = new Map<string, NodeJS.Timeout>();
  #closing: Promise<void> | undefined;
  /** The start (election, then ready); settles when it succeeded, failed for good, or stopped at close. */
  readonly #starting: Promise<void>;
  /** The DataClient class this client expects, and the methods it delegates (protocol/identity.ts). */
  readonly #identity: DataClientIdentity;
  /** This client's channel in this process: endpoint (or single mode) and name. */
  readonly #channelKey: string;
  /** Where an election is: waiting for this process's DataClient, or for a leader's answer. */
  #electionStep: 'leading' | 'registering' | undefined;
  /** Why the start failed, until a retry succeeds: calls fail at once with it. */
  #startError: Error | undefined;
  /** This process's leader role whose DataClient failed to start (it answers that to followers). */
  #failedRole: Role | undefined;
  /** After close: the role that held the DataClient, if this client led (calls after close go there). */
  #closedRole: Role | undefined;
  /** Aborted by close(): stops an election in progress. */
  readonly #stopElecting = new AbortController();
  /** Delegated invoke methods and where they go (for withCallOptions). */
  readonly #invokeDelegates = new Map<string, 'invoke' | 'invokeOneway'>();
  /** The election under way or the last one. */
  #election: ElectionStats | undefined;
  #elections = 0;
  /** Traffic of the roles this client had before the current one. */
  readonly #pastTraffic = noTraffic();
  /**
   * Set when the next election goes to the takeover rendezvous first: `claim` after this
   * follower's leader hung (lead there or follow who does), `follow` after this leader was taken
   * over or a registration met a hung leader (follow the interim leader only).
   */
  #viaRendezvous: 'claim' | 'follow' | undefined;
  /** While this client is the interim leader: its role on the rendezvous, since when, and where. */
  #interim: { role: LeaderRole; since: number; rendezvous: string } | undefined;
  /** The rendezvous this client elected an interim leader on last (the role is set once it is ready). */
  #interimCandidate: { server: PortServer; rendezvous: string } | undefined;
  #takeovers = 0;
  /** This client led or followed a cluster-share leader: its group can take over from a hung leader. */
  #knowsClusterShare = false;
  /** Said once: a tracing subscriber's carrier could not be sent. */
  #badCarrierSaid = false;
  #takenOver = 0;
  /** Said once: why takeover cannot work on this system. */
  #takeoverUnavailableSaid = false;

  /**
   * @internal Created by `cluster(DataClient).create()`. Throws ERR_CLUSTER_CHANNEL_MISMATCH if a
   * client of another DataClient class already uses this name on this port in this process.
   */
  constructor(options: ResolvedOptions, DataClient: DataClientClass, createRealClient: () => object, descriptors: ReadonlyMap<string, Descriptor>) {
    super();
    for (const [name, d] of descriptors) {
      if (d.type === 'delegate' && (d.to === 'invoke' || d.to === 'invokeOneway')) this.#invokeDelegates.set(name, d.to);
    }
    this.#identity = { class: DataClient.name, methods: [...this.#invokeDelegates.keys()].sort() };
    this.#channelKey = `${options.singleMode ? 'single' : endpointKey(options.endpoint)}\0${options.name}`;
    claimChannelIdentity(this.#channelKey, options.name, this.#identity, DataClient.prototype as object);
    this.#options = options;
    this.#createRealClient = createRealClient;
    this.#names = delegateNames(descriptors);
    this.setMaxListeners(options.maxListeners);
    openClients.add(this);
    this.#starting = this.#start().catch(err => this.#failStart(err));
  }

  /** True while this process holds the DataClient (leader, or single mode). */
  get isClusterClientLeader(): boolean {
    return this.#role?.isLeader ?? false;
  }

  /** Current state: electing, leading, following, local (single mode) or closed. */
  get state(): ClientState {
    return this.#state;
  }

  /** The resolved options (defaults and environment applied). */
  get clusterOptions(): Readonly<ResolvedOptions> {
    return this.#options;
  }

  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #setState(next: ClientState): void {
    if (this.#state === next || this.#isClosed()) return;
    debug('%s: %s -> %s', this.#options.name, this.#state, next);
    this.#state = next;
  }

  /**
   * Leads, follows or goes local; then ready. A failed start (a DataClient that failed, in this
   * process or the leader's, no leader in time, a silent or foreign holder of the port) is
   * retried with a growing pause, so the group recovers once the cause is gone: the first
   * failure fails ready(), and until a retry succeeds every call fails at once with that error.
   * Only a close or a configuration error (isFinalStartError) ends the start.
   */
  async #start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let role: Role;
      try {
        role = this.#options.singleMode ? await this.#createLocal() : await this.#elect('start');
      } catch (err) {
        const retry = !this.#isClosed() && !isFinalStartError(err);
        // The first failure is reported (ready() rejects); a retry's is only logged. A close after
        // a reported failure is no new failure: ready() keeps rejecting with the first one.
        if (attempt === 0 || (!retry && !this.#isClosed())) this.#failStart(err);
        if (!retry) return;
        const pause = Math.min(START_RETRY_MAX, START_RETRY_MIN * 2 ** attempt);
        const what = this.#failedRole ? 'its DataClient failed to start' : err instanceof LeaderStartError ? 'the leader\'s DataClient failed to start' : 'the start failed';
        this.#options.logger.warn(`[cluster-share] "${this.#options.name}" (pid ${process.pid}): ${what} (${(err as Error)?.message ?? err}); trying again in ${pause}ms`);
        // A failed leader answers the failure to the followers that register for a moment (they
        // fail at once instead of waiting), then gives up the port so another process may lead;
        // the rest of the pause is spent without it. Unref'd: a client whose start keeps failing
        // does not keep its process alive by itself.
        const hold = this.#failedRole ? Math.min(pause, FAILED_LEADER_HOLD) : 0;
        await retryAfter(hold, this.#stopElecting.signal, true);
        await this.#failedRole?.close().catch(() => undefined);
        this.#failedRole = undefined;
        if (pause > hold) await retryAfter(pause - hold, this.#stopElecting.signal, true);
        continue;
      }
      if (this.#isClosed()) {
        // Closed while starting: the role it got closes at once (a leader's DataClient too).
        if (role.isLeader) this.#closedRole = role;
        await role.close();
        return;
      }
      this.#startError = undefined;
      this.#adopt(role);
      this.ready(true);
      return;
    }
  }

  /**
   * The start failed: ready() rejects, and (as sdk-base 4 does) the error is emitted as 'error'
   * if nobody waits for ready. Not when the user closed the client meanwhile: that is no failure.
   */
  #failStart(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.#startError = error;
    this.#failQueue(() => error);
    if (this.#isClosed()) this.ready(ignoreReadyError);
    this.ready(error);
  }

  async #createLocal(): Promise<Role> {
    const host = acquireSingle(this.#options, this.#names, this.#createRealClient);
    const role = new LocalRole(host, this, this);
    try {
      await host.ready();
    } catch (err) {
      await role.close();
      throw err;
    }
    return role;
  }

  /** Competes for the port until this process leads or follows, within the time budget. */
  async #elect(reason: ElectionReason): Promise<Role> {
    const o = this.#options;
    // A new election round (a retry after a failed one keeps the first start time).
    if (this.#election?.durationMs !== undefined || this.#election?.reason !== reason) {
      const event = { name: o.name, reason, startedAt: Date.now() };
      this.#election = { reason, startedAt: event.startedAt, durationMs: undefined, role: undefined };
      debug('%s: election started (%s)', o.name, reason);
      // On the next tick: the first election starts inside create(), before anyone could listen.
      process.nextTick(() => this.emit('electionStart', event));
      if (electionChannel.hasSubscribers) electionChannel.publish({ name: o.name, pid: process.pid, phase: 'start', reason, startedAt: event.startedAt });
    }
    const budget = o.isLeader === false ? o.maxWaitTime : o.connectTimeout;
    const deadline = Date.now() + budget;
    let lastError: unknown;
    /** Registrations in a row that the holder of the port closed without answering. */
    let dropped = 0;
    for (let attempt = 0; ; attempt++) {
      if (this.#isClosed()) throw new ClientClosedError(o.name, 'closed while electing');
      if (this.#viaRendezvous) {
        const role = await this.#electOnRendezvous(this.#viaRendezvous);
        if (role) return role;
      }
      if (o.isLeader !== false) {
        const server = await PortServer.claim(o.endpoint, o).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'ENOTSOCK' ? new PortConflictError(o.name, o.path ?? o.port, err.message, { cause: err }) : err;
        });
        if (server && !server.hasChannel(o.name)) return this.#lead(server);
        if (o.isLeader === true) throw new PortInUseError(o.name, o.path ?? o.port);
      }
      try {
        this.#electionStep = 'registering';
        return await FollowerRole.connect(o, this, this.#names.publish, this.#identity, Math.max(1, deadline - Date.now()), this.#stopElecting.signal, false, this.#knowsClusterShare);
      } catch (err) {
        if (err instanceof LeaderUnresponsiveError) {
          // The port's holder is hung: join the interim leader on the rendezvous, or (a client
          // whose group is cluster-share: its interim leader died, say) elect one.
          this.#viaRendezvous = this.#knowsClusterShare ? 'claim' : 'follow';
          lastError = err;
          continue;
        }
        if (!isTransient(err)) throw err;
        lastError = err;
        debug('%s: attempt %d: %s', o.name, attempt, (err as Error).message);
        // Still held, and closed on us again: not a leader that died, a program squatting the port.
        dropped = FollowerRole.unanswered(err) ? dropped + 1 : 0;
        if (dropped >= SQUATTER_DROPS) {
          throw new PortConflictError(o.name, o.path ?? o.port, `it accepted ${dropped} connections in a row and closed each without answering register_channel`, { cause: err });
        }
      } finally {
        this.#electionStep = undefined;
      }
      if (Date.now() >= deadline) throw new ConnectTimeoutError(o.name, o.path ?? o.port, budget, { cause: lastError, forcedFollower: o.isLeader === false });
      await retryDelay(attempt, this.#stopElecting.signal);
    }
  }

  /**
   * Takeover (README "A hung leader"): leads on the rendezvous if `mode` is claim and it is free,
   * else follows the interim leader there. Resolves undefined when there is none for this
   * channel (or no rendezvous on this system): the election goes on at the endpoint.
   */
  async #electOnRendezvous(mode: 'claim' | 'follow'): Promise<Role | undefined> {
    const o = this.#options;
    const found = rendezvousOf(o.endpoint);
    if (!('endpoint' in found)) {
      this.#viaRendezvous = undefined;
      if (!this.#takeoverUnavailableSaid) {
        this.#takeoverUnavailableSaid = true;
        o.logger.warn(`[cluster-share] "${o.name}": no takeover rendezvous (${found.unavailable}); waiting for the hung leader instead`);
      }
      return undefined;
    }
    const rendezvous = found.endpoint;
    if (mode === 'claim' && o.isLeader !== false) {
      const server = await PortServer.claim(rendezvous, { ...o, interimFor: o.endpoint }).catch((err: Error) => {
        debug('%s: cannot listen on the rendezvous %s: %s', o.name, rendezvous.path, err.message);
        return null;
      });
      if (server && !server.hasChannel(o.name)) {
        o.logger.warn(`[cluster-share] "${o.name}" (pid ${process.pid}): leading as the interim leader on ${rendezvous.path} while the leader on ${describeEndpoint(o.endpoint)} hangs`);
        this.#interimCandidate = { server, rendezvous: rendezvous.path };
        return this.#lead(server);
      }
    }
    try {
      this.#electionStep = 'registering';
      // Its watchdog stays on: once the interim leader has moved to the endpoint it is the leader,
      // and if it hangs in turn these followers take over from it the same way.
      const options = { ...o, endpoint: rendezvous, path: rendezvous.path };
      return await FollowerRole.connect(options, this, this.#names.publish, this.#identity, o.connectTimeout, this.#stopElecting.signal);
    } catch (err) {
      if (this.#isClosed() || isFinalStartError(err)) throw err;
      // No interim leader for this channel there (none yet, gone, or another channel's).
      debug('%s: no interim leader on %s: %s', o.name, rendezvous.path, (err as Error).message);
      this.#viaRendezvous = undefined;
      return undefined;
    } finally {
      this.#electionStep = undefined;
    }
  }

  async #lead(server: PortServer): Promise<Role> {
    let realClient: object;
    try {
      realClient = this.#createRealClient();
    } catch (err) {
      // A constructor that throws is a failed start like a failed ready: the channel answers it.
      realClient = new FailedDataClient(err);
    }
    const host = new DataClientHost(this.#options, realClient, this.#names);
    const role = new LeaderRole(host, server, this, this, this.#identity.class);
    server.addChannel(this.#options.name, role);
    this.#electionStep = 'leading';
    try {
      await host.ready();
    } catch (err) {
      // The channel stays, answering this error to every follower that registers (they fail
      // at once instead of waiting for a leader), until #start tries again.
      this.#failedRole = role;
      throw err;
    } finally {
      this.#electionStep = undefined;
    }
    return role;
  }

  /** Makes `role` current: replays subscriptions and publications, then sends queued calls. */
  #adopt(role: Role): void {
    this.#role = role;
    // Led, or followed a leader that said its pid: a cluster-share group, whose members take over.
    if (role.kind !== 'local' && role.leaderPid !== undefined) this.#knowsClusterShare = true;
    this.#viaRendezvous = undefined;
    const candidate = this.#interimCandidate;
    this.#interimCandidate = undefined;
    if (candidate && role instanceof LeaderRole && role.server === candidate.server) {
      this.#interim = { role, since: Date.now(), rendezvous: candidate.rendezvous };
    }
    this.#traceRole(role.kind, this.#election?.reason ?? 'start', role.leaderPid);
    this.#setState(role.kind === 'leader' ? 'leading' : role.kind === 'follower' ? 'following' : 'local');
    this.#endElection(role);
    for (const [key, sub] of this.#subs) role.subscribe(key, sub.reg);
    for (const reg of this.#pubs.values()) role.publish(reg);
    const queue = this.#queue;
    this.#queue = [];
    for (const call of queue) {
      clearTimeout(call.timer);
      this.#send(role, call.method, call.args, call.callback, call.control, call.trace);
    }
    const interim = this.#interim;
    if (interim?.role === role) {
      this.#emitTakeover('interim');
      this.#reclaimEndpoint(interim.role).catch(err => this.emit('error', err));
    }
  }

  #emitTakeover(phase: TakeoverEvent['phase']): void {
    const interim = this.#interim;
    if (!interim) return;
    const event: TakeoverEvent = { name: this.#options.name, phase, rendezvous: interim.rendezvous, interimMs: phase === 'interim' ? 0 : Date.now() - interim.since };
    if (phase !== 'interim') this.#interim = undefined;
    this.emit('takeover', event);
  }

  /**
   * The interim leader gets back to the endpoint: it takes it as soon as it is free, and
   * meanwhile asks its holder to step down (register_channel with `takeover: true`, read by the
   * hung leader the moment it wakes). A holder that answers it as an ordinary registration keeps
   * leading (cluster-client 3.x knows no takeover): the interim leader then hands over to it and
   * follows it. Ends when the role changes or the client closes.
   */
  async #reclaimEndpoint(role: LeaderRole): Promise<void> {
    const o = this.#options;
    const current = (): boolean => this.#role === role && !this.#isClosed();
    for (let attempt = 0; current(); attempt++) {
      const server = await PortServer.claim(o.endpoint, o).catch((err: Error) => {
        debug('%s: interim leader cannot listen on %s: %s', o.name, describeEndpoint(o.endpoint), err.message);
        return null;
      });
      if (server) {
        if (current() && role.moveTo(server)) {
          o.logger.warn(`[cluster-share] "${o.name}" (pid ${process.pid}): the interim leader now leads on ${describeEndpoint(o.endpoint)}`);
          this.#emitTakeover('port');
          return;
        }
        // Not needed after all (the role changed meanwhile): give it back if nothing uses it.
        await server.removeChannel(o.name);
        return;
      }
      try {
        const follower = await FollowerRole.connect(o, this, this.#names.publish, this.#identity, o.connectTimeout, this.#stopElecting.signal, true);
        if (!current()) {
          await follower.close();
          return;
        }
        o.logger.warn(`[cluster-share] "${o.name}" (pid ${process.pid}): the leader on ${describeEndpoint(o.endpoint)} answers again and keeps leading; the interim leader hands over to it`);
        this.#emitTakeover('ended');
        this.#dropRole(role, 'leaderClosing');
        role.close().catch(err => this.emit('error', err));
        this.#adopt(follower);
        return;
      } catch (err) {
        if (!current()) return;
        // Stepped down: the endpoint is free now.
        if ((err as { code?: unknown }).code === TAKEN_OVER) continue;
        debug('%s: takeover request: %s', o.name, (err as Error).message);
        await retryAfter(Math.min(5_000, 100 * 2 ** Math.min(attempt, 6)), this.#stopElecting.signal, true);
      }
    }
  }

  #endElection(role: Role): void {
    const election = this.#election;
    if (role.kind === 'local' || !election || election.durationMs !== undefined) return;
    election.durationMs = Date.now() - election.startedAt;
    election.role = role.kind === 'leader' ? 'leader' : 'follower';
    this.#elections++;
    const event: ElectionEndEvent = {
      name: this.#options.name, reason: election.reason, startedAt: election.startedAt,
      role: election.role, leaderPid: role.leaderPid, durationMs: election.durationMs,
    };
    debug('%s: election (%s) ended in %dms: %s, leader pid %s', event.name, event.reason, event.durationMs, event.role, event.leaderPid ?? 'unknown');
    this.emit('electionEnd', event);
    if (electionChannel.hasSubscribers) {
      electionChannel.publish({ name: event.name, pid: process.pid, phase: 'end', reason: event.reason, role: event.role, leaderPid: event.leaderPid, durationMs: event.durationMs });
    }
    this.emit(event.role === 'leader' ? 'becomeLeader' : 'becomeFollower', event);
  }

  // RoleSink: the follower lost its leader. Elect again; calls queue meanwhile.
  /** @internal */
  lost(role: Role, err: Error | undefined): void {
    if (!this.#dropRole(role)) return;
    this.#options.logger.warn(`[cluster-share] "${this.#options.name}" lost its leader${err ? ` (${err.message})` : ''}; electing a new one`);
    // As 3.x: its connection's 'close' reaches the client (the client itself is not closed:
    // `state` is 'electing', and it follows or leads again by itself).
    this.emit('close');
    this.#reelect('leaderLost').catch(error => this.emit('error', error));
  }

  // RoleSink: the follower's leader answered nothing for leaderTimeout. Elect an interim leader.
  /** @internal */
  leaderUnresponsive(role: Role, err: Error): void {
    if (!this.#dropRole(role, 'leaderUnresponsive')) return;
    this.#takeovers++;
    const silentMs = err instanceof LeaderUnresponsiveError ? err.silentMs : this.#options.leaderTimeout;
    this.emit('leaderUnresponsive', { name: this.#options.name, leaderPid: role.leaderPid, silentMs });
    this.emit('close');
    this.#viaRendezvous = 'claim';
    this.#reelect('leaderUnresponsive').catch(error => this.emit('error', error));
  }

  // RoleSink: this leader hung, and an interim leader took over: step down and follow it.
  /** @internal */
  takenOver(role: Role, byPid: number | undefined): void {
    if (!(role instanceof LeaderRole) || role !== this.#role) return;
    this.#takenOver++;
    this.emit('takenOver', { name: this.#options.name, byPid });
    this.#viaRendezvous = 'follow';
    this.#stepDown('takenOver');
  }

  // RoleSink: the leader is handing over. Elect its successor now; new calls queue meanwhile and
  // the calls already sent are still answered on the old connection.
  /** @internal */
  leaderClosing(role: Role): void {
    if (!this.#dropRole(role, 'leaderClosing')) return;
    this.#options.logger.info(`[cluster-share] "${this.#options.name}": the leader is closing; electing its successor`);
    this.#reelect('leaderClosing').catch(error => this.emit('error', error));
  }

  /** Stops using `role` if it is the current one (calls queue from now on). Returns whether it was. */
  #dropRole(role: Role, reason: ElectionReason = 'leaderLost'): boolean {
    if (role !== this.#role || this.#isClosed()) return false;
    this.#role = undefined;
    this.#traceRole(undefined, reason, undefined);
    if (this.#interim?.role === role) this.#interim = undefined;
    addTraffic(this.#pastTraffic, role.traffic);
    this.#setState('electing');
    return true;
  }

  async #reelect(reason: ElectionReason): Promise<void> {
    for (let attempt = 0; !this.#isClosed(); attempt++) {
      try {
        const role = await this.#elect(reason);
        if (this.#isClosed()) {
          await role.close();
          return;
        }
        this.#adopt(role);
        return;
      } catch (err) {
        if (this.#isClosed()) return;
        this.#options.logger.warn(`[cluster-share] "${this.#options.name}" re-election failed, retrying: ${(err as Error).message}`);
        await retryDelay(attempt + 5, this.#stopElecting.signal);
      }
    }
  }

  /** Publishes a role change on `cluster-share:role` (src/tracing.ts), if anything listens. */
  #traceRole(role: RoleTraceMessage['role'], reason: RoleTraceMessage['reason'], leaderPid: number | undefined): void {
    if (!roleChannel.hasSubscribers) return;
    const message: RoleTraceMessage = { name: this.#options.name, pid: process.pid, role, reason, leaderPid, interim: this.#interim !== undefined && this.#interim.role === this.#role };
    roleChannel.publish(message);
  }

  // RoleSink: a subscription value.
  /** @internal */
  deliver(key: string, value: unknown): void {
    const sub = this.#subs.get(key);
    if (!sub) return;
    if (subscriptionChannel.hasSubscribers) {
      const message: SubscriptionTraceMessage = {
        name: this.#options.name, pid: process.pid, key: key.slice(SUBSCRIPTION_KEY_PREFIX.length), role: this.#role?.kind, listeners: sub.listeners.length,
      };
      subscriptionChannel.publish(message);
    }
    this.#values.set(key, value);
    if (this.#subscribeTimers.size > 0) this.#clearSubscribeTimer(key);
    // Indexed over a copy (a listener may unsubscribe): this runs once per value and process.
    const { listeners } = sub;
    if (listeners.length === 1) {
      this.#callListener(listeners[0]!, value);
      return;
    }
    const called = listeners.slice();
    for (let i = 0; i < called.length; i++) this.#callListener(called[i]!, value);
  }

  #callListener(listener: (value: unknown) => void, value: unknown): void {
    try {
      listener(value);
    } catch (err) {
      // A throwing listener must not stop the others nor break the connection.
      process.nextTick(() => this.emit('error', err));
    }
  }

  #keyOf(reg: unknown): string {
    return SUBSCRIPTION_KEY_PREFIX + this.#options.formatKey(reg);
  }

  /** @internal Subscribes `listener` to `reg`; one subscription per key reaches the leader. */
  [symbols.subscribe](reg: unknown, listener: (value: unknown) => void): this {
    if (typeof listener !== 'function') {
      throw new InvalidArgumentError(`subscribe(reg, listener): listener must be a function, got ${typeof listener}`);
    }
    if (this.#isClosed()) throw new ClientClosedError(this.#options.name, 'subscribe after close');
    const key = this.#keyOf(reg);
    const sub = this.#subs.get(key);
    if (sub) {
      sub.listeners.push(listener);
      if (this.#values.has(key) && this.#options.isBroadcast) {
        const value = this.#values.get(key);
        process.nextTick(() => this.#callListener(listener, value));
      }
      return this;
    }
    this.#subs.set(key, { reg, listeners: [listener] });
    this.#armSubscribeTimer(key);
    this.#role?.subscribe(key, reg);
    return this;
  }

  /** @internal Removes `listener` (or every listener) of `reg`; the last one out unsubscribes at the leader. */
  [symbols.unSubscribe](reg: unknown, listener?: (value: unknown) => void): this {
    if (listener !== undefined && typeof listener !== 'function') {
      throw new InvalidArgumentError(`unSubscribe(reg, listener): listener must be a function or omitted, got ${typeof listener}`);
    }
    const key = this.#keyOf(reg);
    const sub = this.#subs.get(key);
    if (!sub) return this;
    sub.listeners = listener ? sub.listeners.filter(l => l !== listener) : [];
    if (sub.listeners.length === 0) {
      this.#subs.delete(key);
      this.#values.delete(key);
      this.#clearSubscribeTimer(key);
      this.#role?.unSubscribe(key, reg);
    }
    return this;
  }

  /** @internal Publishes `reg` through the DataClient; it is published again to every new leader. */
  [symbols.publish](reg: unknown): this {
    if (this.#isClosed()) throw new ClientClosedError(this.#options.name, 'publish after close');
    this.#pubs.set(this.#options.formatKey(reg), reg);
    this.#role?.publish(reg);
    return this;
  }

  /**
   * @internal Invokes `method` on the DataClient. With a callback: a call that expects an answer.
   * Without: oneway (no answer, failures are logged).
   */
  [symbols.invoke](method: string, args: unknown[], callback?: InvokeCallback, call?: Readonly<CallOptions>): void {
    // Tracing (src/tracing.ts): nothing is built unless an instrumentation listens.
    if (!invokeTraced()) {
      this.#invoke(method, args, callback, call, undefined);
      return;
    }
    const role = this.#role;
    const trace: InvokeTraceMessage = {
      name: this.#options.name, method, oneway: !callback, role: role?.kind ?? 'electing', pid: process.pid, leaderPid: role?.leaderPid, carrier: {}, args,
    };
    if (callback) invokeChannel.traceCallback(this.#invoke, 2, trace, this, method, args, callback, call, trace);
    else invokeChannel.traceSync(this.#invoke, trace, this, method, args, undefined, call, trace);
  }

  readonly #invoke = (method: string, args: unknown[], callback: InvokeCallback | undefined, call: Readonly<CallOptions> | undefined, trace: InvokeTraceMessage | undefined): void => {
    if (this.#isClosed()) {
      this.#invokeAfterClose(method, args, callback, trace);
      return;
    }
    let control: CallControl | undefined;
    if (call) {
      if (call.signal?.aborted) {
        if (callback) process.nextTick(callback, new CallAbortedError(method, call.signal.reason));
        return;
      }
      if (call.signal || call.timeout !== undefined) control = new CallControl(method, callback, call);
    }
    // A follower whose process was stalled has been dropped by the leader: reconnect first, and
    // queue this call for the new leader instead of losing it on the dead socket.
    const current = this.#role;
    if (current instanceof FollowerRole) current.dropIfStale();
    const role = this.#role;
    if (role) {
      this.#send(role, method, args, callback, control, trace);
      return;
    }
    const startError = this.#startError;
    if (startError) {
      // The start failed and no retry has succeeded yet: fail now, not after responseTimeout.
      if (control) control.settle(startError);
      else if (callback) process.nextTick(callback, startError);
      else process.nextTick(() => this.emit('error', startError));
      return;
    }
    this.#enqueue(method, args, callback, control, trace);
  };

  /**
   * A call after close. A client that held the DataClient (leader, single mode) hands it to that
   * DataClient as 3.x does: a closed DataClient reports its own error (zookeeper-cluster-client's
   * "after client closed"). A follower has none: the call fails with ERR_CLUSTER_CLIENT_CLOSED,
   * through its callback or promise, or as an 'error' event for a oneway call. Never silently.
   */
  #invokeAfterClose(method: string, args: unknown[], callback: InvokeCallback | undefined, trace: InvokeTraceMessage | undefined): void {
    const role = this.#closedRole;
    if (role) {
      this.#send(role, method, args, callback, undefined, trace);
      return;
    }
    const err = new ClientClosedError(this.#options.name, `${method} called after close`);
    if (callback) process.nextTick(callback, err);
    else process.nextTick(() => this.emit('error', err));
  }

  /** What a call queued without a role is waiting for, for its timeout message. */
  #waitingFor(): string {
    switch (this.#electionStep) {
      case 'leading': return `this process leads "${this.#options.name}" but its DataClient is not ready yet`;
      case 'registering': return 'the leader has not accepted this follower yet: its DataClient is not ready, or the leader is unresponsive';
      default: return 'no leader was available';
    }
  }

  /** No leader now: the call waits for the next one, at most responseTimeout (or its own timeout). */
  #enqueue(method: string, args: unknown[], callback: InvokeCallback | undefined, control: CallControl | undefined, trace: InvokeTraceMessage | undefined): void {
    const { responseTimeout } = this.#options;
    const unqueue = (): void => {
      const index = this.#queue.indexOf(queued);
      if (index >= 0) this.#queue.splice(index, 1);
      clearTimeout(queued.timer);
    };
    const queued: QueuedCall = {
      method,
      args,
      callback,
      control,
      trace,
      // A call with its own timeout is bounded by that timer alone.
      timer: control?.hasTimeout ? undefined : setTimeout(() => {
        unqueue();
        const err = new ResponseTimeoutError(method, responseTimeout, this.#waitingFor());
        if (control) control.settle(err);
        else if (callback) callback(err);
        else this.#options.logger.warn(`[cluster-share] "${this.#options.name}" oneway ${method} dropped: ${err.message}`);
      }, responseTimeout),
    };
    control?.queued(unqueue);
    this.#queue.push(queued);
  }

  #send(role: Role, method: string, args: unknown[], callback: InvokeCallback | undefined, control: CallControl | undefined, trace: InvokeTraceMessage | undefined): void {
    let carrier: Record<string, string> | undefined;
    if (trace) {
      trace.role = role.kind;
      trace.leaderPid = role.leaderPid;
      // Only a follower sends it; in this process the subscribers share the message already.
      if (role.kind === 'follower') carrier = this.#wireCarrier(trace.carrier);
    }
    if (control) {
      if (control.settled) return;
      if (callback) control.sent(role, role.invoke(method, args, control.settle, control.roleTimeout(), carrier));
      else {
        control.settle(null);
        role.invokeOneway(method, args, carrier);
      }
      return;
    }
    if (callback) role.invoke(method, args, callback, undefined, carrier);
    else role.invokeOneway(method, args, carrier);
  }

  /** The carrier a tracing subscriber filled, as it may be sent; a bad one is dropped (warned once per client). */
  #wireCarrier(carrier: unknown): Record<string, string> | undefined {
    const refuse = (why: string): void => {
      if (this.#badCarrierSaid) return;
      this.#badCarrierSaid = true;
      this.#options.logger.warn(`[cluster-share] "${this.#options.name}": a tracing subscriber's carrier is not sent: ${why}`);
    };
    try {
      return checkCarrier(carrier, refuse);
    } catch (err) {
      // A getter or Proxy of the subscriber's that throws: the call goes on without the carrier.
      refuse(`reading it threw ${(err as Error)?.message ?? err}`);
      return undefined;
    }
  }

  #failQueue(makeError: (call: QueuedCall) => Error): void {
    const queue = this.#queue;
    this.#queue = [];
    for (const call of queue) {
      clearTimeout(call.timer);
      if (call.control) call.control.settle(makeError(call));
      else call.callback?.(makeError(call));
    }
  }

  #armSubscribeTimer(key: string): void {
    const timeout = this.#options.subscribeTimeout;
    if (!timeout) return;
    const start = Date.now();
    const timer = setTimeout(() => {
      this.#subscribeTimers.delete(key);
      this.emit('error', new SubscribeTimeoutError(key, timeout, Date.now() - start));
    }, timeout);
    timer.unref();
    this.#subscribeTimers.set(key, timer);
  }

  #clearSubscribeTimer(key: string): void {
    const timer = this.#subscribeTimers.get(key);
    if (timer) {
      clearTimeout(timer);
      this.#subscribeTimers.delete(key);
    }
  }

  /**
   * The same client, whose delegated invoke methods take these per-call options: an AbortSignal
   * and/or a timeout in ms instead of `responseTimeout`. Throws ERR_CLUSTER_INVALID_ARGUMENT on
   * bad options.
   *
   * ```ts
   * const data = await client.withCallOptions({ signal: AbortSignal.timeout(200) }).getData('key');
   * ```
   */
  withCallOptions<T extends object>(this: T, options: CallOptions): T {
    const call = checkCallOptions(options);
    const made = new Map<PropertyKey, unknown>();
    // `this` is the created client (T keeps its delegated methods' types; it may lack our `stats`).
    const client = this as unknown as ClusterClient;
    return new Proxy(this, {
      get: (target, prop) => {
        if (made.has(prop)) return made.get(prop);
        const to = typeof prop === 'string' ? client.#invokeDelegates.get(prop) : undefined;
        // Only the delegates the client still has (an override or a user's own value wins).
        const own = Reflect.get(target, prop, target) as unknown;
        let value: unknown = own;
        if (to && typeof own === 'function') value = to === 'invoke' ? invokeDelegate(client, prop as string, call) : onewayDelegate(client, prop as string, call);
        else if (typeof own === 'function') value = (own as (...args: unknown[]) => unknown).bind(target);
        else return own;
        made.set(prop, value);
        return value;
      },
    });
  }

  /**
   * @internal 3.x's inner client, as code written for 3.x inspects it (src/compat.ts): `isLeader`,
   * `_realClient` (the DataClient, on a leader, also after close) and `_server.close()`, which
   * makes a leader give up the port as if 3.x's server had closed: it hands over to a successor
   * and this client elects again.
   */
  get [symbols.innerClient](): { isLeader: boolean; _realClient: object | undefined; _server: { close(): void } } {
    const role = this.#role ?? this.#closedRole;
    return {
      isLeader: this.#role?.isLeader ?? false,
      _realClient: role instanceof LocalRole ? role.host.realClient : undefined,
      _server: { close: () => this.#stepDown() },
    };
  }

  /**
   * A leader gives up its role: graceful handover (the port, released at once, then the
   * DataClient), and a new election. Taken over, it elects at once (the interim leader serves
   * already); otherwise once the handover is done.
   */
  #stepDown(reason: 'leaderClosing' | 'takenOver' = 'leaderClosing'): void {
    const role = this.#role;
    if (!(role instanceof LeaderRole) || !this.#dropRole(role, reason)) return;
    this.#options.logger.warn(`[cluster-share] "${this.#options.name}": the leader steps down; electing again`);
    this.emit('close');
    const closed = role.close().catch(err => this.emit('error', err));
    if (reason === 'takenOver') this.#reelect(reason).catch(err => this.emit('error', err));
    else closed.then(() => this.#reelect(reason)).catch(err => this.emit('error', err));
  }

  /**
   * A snapshot of this client: role, leader, calls, subscriptions, followers, traffic, elections.
   * If the DataClient's own `stats` method is delegated, that one takes this name: use
   * `cluster.stats(client)` then.
   */
  stats(): ClientStats {
    return this[symbols.stats]();
  }

  /** @internal What `stats()` and `cluster.stats(client)` return. */
  [symbols.stats](): ClientStats {
    const role = this.#role;
    const traffic = addTraffic(noTraffic(), this.#pastTraffic);
    if (role) addTraffic(traffic, role.traffic);
    const o = this.#options;
    return {
      name: o.name,
      state: this.#state,
      role: role?.kind,
      pid: process.pid,
      leaderPid: role?.leaderPid,
      endpoint: describeEndpoint(o.endpoint),
      queuedCalls: this.#queue.length,
      inFlightCalls: role?.inFlightCalls ?? 0,
      subscriptions: this.#subs.size,
      publications: this.#pubs.size,
      followers: role?.followers() ?? [],
      traffic,
      elections: this.#elections,
      lastElection: this.#election ? { ...this.#election } : undefined,
      interim: this.#interim !== undefined && this.#interim.role === role,
      takeovers: this.#takeovers,
      takenOver: this.#takenOver,
    };
  }

  /**
   * @internal Closes this client: a leader releases the port, answers the calls it already received and
   * closes the DataClient; a follower waits for its calls in flight. Idempotent.
   */
  [symbols.close](): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#role) this.#traceRole(undefined, 'closed', undefined);
    this.#setState('closed');
    openClients.delete(this);
    releaseChannelIdentity(this.#channelKey);
    // An election in progress stops: its connection attempt and retry pause end now.
    this.#stopElecting.abort();
    this.#failQueue(call => new ClientClosedError(this.#options.name, `${call.method} was waiting for a leader`));
    for (const timer of this.#subscribeTimers.values()) clearTimeout(timer);
    this.#subscribeTimers.clear();
    // As 3.x, close() lets a start in progress finish first (a leader's DataClient then exists and
    // is closed, and its port released, before close() resolves), but waits at most
    // responseTimeout for a DataClient that does not get ready.
    const gaveUp = new AbortController();
    await Promise.race([this.#starting, retryAfter(this.#options.responseTimeout, gaveUp.signal)]);
    gaveUp.abort();
    await this.#failedRole?.close().catch(() => undefined);
    this.#failedRole = undefined;
    const role = this.#role;
    this.#role = undefined;
    if (role) {
      if (role.isLeader) this.#closedRole = role;
      addTraffic(this.#pastTraffic, role.traffic);
      await role.close();
    }
    this.emit('close');
  }

  /** @internal sdk-base's close() calls this. */
  async _close(): Promise<void> {
    await this[symbols.close]();
  }
}

