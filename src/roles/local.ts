/**
 * The in-process role: calls go straight to a DataClientHost. Used by single mode (one
 * reference-counted DataClient per name per process) and, through LeaderRole, by the leader's
 * own calls.
 */
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { ResolvedOptions } from '../options.js';
import type { DelegateNames } from '../delegates.js';
import { codecName } from '../protocol/codec.js';
import type { Codec } from '../protocol/packet.js';
import type { FollowerStats } from '../stats.js';
import { noTraffic, type Traffic } from '../stats.js';
import type { InvokeCallback } from '../delegates.js';
import { DataClientHost, type EncodedValue, type Subscriber } from './host.js';
import type { Role, RoleKind, RoleSink } from './role.js';

/**
 * Longest a chain of local calls may keep the event loop to itself. A loop of calls that resolve
 * without I/O (`for (const k of keys) await client.get(k)` on a DataClient answering from memory)
 * would otherwise never let the loop reach its sockets: on a leader, no follower would be
 * answered and none could register until the loop ended. After this long in one turn, the next
 * local answer waits for the sockets (setImmediate), then the chain goes on.
 */
const TURN_BUDGET_MS = 10;
/** The clock is read once per this many local answers in a turn (reading it is most of the cost). */
const ANSWERS_PER_CLOCK_READ = 32;
/** When the current turn of the event loop started answering local calls; -1 if it has not. */
let turnStartedAt = -1;
/** Local answers since the clock was last read. */
let answersSinceRead = 0;

function newTurn(): void {
  turnStartedAt = -1;
}

/** Calls `callback(err, result)` now, or after the event loop has served its I/O if this turn is over budget. */
function answerFairly(callback: InvokeCallback, err: unknown, result: unknown): void {
  if (turnStartedAt >= 0 && ++answersSinceRead < ANSWERS_PER_CLOCK_READ) {
    callback(err, result);
    return;
  }
  answersSinceRead = 0;
  const now = performance.now();
  if (turnStartedAt < 0) {
    turnStartedAt = now;
    setImmediate(newTurn);
  }
  if (now - turnStartedAt < TURN_BUDGET_MS) callback(err, result);
  else setImmediate(callback, err, result);
}

export class LocalRole implements Role, Subscriber {
  readonly host: DataClientHost;
  readonly sink: RoleSink;
  /** Subscription values are copied through the host's snapshot codec. */
  readonly codec: Codec;
  /** The client that receives the DataClient's events (and the leader's errors). */
  readonly events: EventEmitter;
  /** Ids of this process's calls running here; a forgotten one no longer counts. */
  readonly #running = new Set<number>();
  #lastId = 0;

  constructor(host: DataClientHost, sink: RoleSink, events: EventEmitter) {
    this.host = host;
    this.sink = sink;
    this.codec = host.snapshotCodec;
    this.events = events;
    host.eventTargets.add(events);
  }

  get kind(): RoleKind {
    return 'local';
  }

  get isLeader(): boolean {
    return true;
  }

  get leaderPid(): number {
    return process.pid;
  }

  invoke(method: string, args: unknown[], callback: InvokeCallback): number {
    const id = ++this.#lastId;
    this.#running.add(id);
    this.host.invoke(method, args, (err, result) => {
      this.#running.delete(id);
      answerFairly(callback, err, result);
    });
    return id;
  }

  /** The call keeps running in the DataClient (it cannot be stopped) but no longer counts; its caller drops the answer. */
  forget(id: number): void {
    this.#running.delete(id);
  }

  get inFlightCalls(): number {
    return this.#running.size;
  }

  /** Nothing crosses a process boundary (a leader adds its followers' traffic). */
  get traffic(): Traffic {
    return noTraffic();
  }

  followers(): FollowerStats[] {
    return [];
  }

  invokeOneway(method: string, args: unknown[]): void {
    this.host.invoke(method, args, err => {
      if (err) this.host.options.logger.warn(`[cluster-share] "${this.host.options.name}" oneway ${method} failed: ${(err as Error)?.message ?? err}`);
    });
  }

  subscribe(key: string, reg: unknown): void {
    this.host.subscribe(key, reg, this);
  }

  unSubscribe(key: string): void {
    this.host.unSubscribe(key, this);
  }

  publish(reg: unknown): void {
    this.host.publish(reg);
  }

  /**
   * Subscriber: each value is decoded from its encoding, so a process never shares an object with
   * the DataClient, and handed to the listeners on a later tick (as 3.x): never inside the
   * DataClient's own emit, nor inside the `subscribe()` or invoked method that caused it. The
   * encoding is taken now (it is the value as it was when pushed); the decoding waits for that
   * tick too, so the writes to the followers in the same delivery loop do not wait for it (a
   * large value takes about as long to decode as it took to encode).
   */
  deliver(key: string, encoded: EncodedValue): void {
    const bytes = encoded.bytes(this.codec);
    process.nextTick(() => this.#deliverCopy(key, bytes));
  }

  #deliverCopy(key: string, bytes: Buffer): void {
    let value: unknown;
    try {
      value = this.codec.decode(bytes);
    } catch (err) {
      this.host.options.logger.warn(`[cluster-share] "${this.host.options.name}": subscription value for ${key} does not decode with ${codecName(this.codec)}; this process's listeners did not get it: ${(err as Error)?.message ?? err}`);
      return;
    }
    this.sink.deliver(key, value);
  }

  /**
   * Stops receiving subscription values. The client keeps receiving the DataClient's events
   * after close, as in 3.x (a late 'error' still reaches the application).
   */
  detach(): void {
    this.host.removeSubscriber(this);
  }

  async close(): Promise<void> {
    this.detach();
    await releaseSingle(this.host, this.events);
  }
}

interface SharedHost {
  host: DataClientHost;
  refs: number;
}

const singles = new Map<string, SharedHost>();

/** Single mode: the process's shared host for `options.name`, created on first use. */
export function acquireSingle(options: ResolvedOptions, names: DelegateNames, create: () => object): DataClientHost {
  const shared = singles.get(options.name);
  if (shared) {
    shared.refs++;
    return shared.host;
  }
  const host = new DataClientHost(options, create(), names);
  singles.set(options.name, { host, refs: 1 });
  return host;
}

/** Single mode: one client of `host` closed; the last one closes the host. */
async function releaseSingle(host: DataClientHost, events: EventEmitter): Promise<void> {
  const shared = singles.get(host.options.name);
  if (!shared || shared.host !== host) return;
  if (--shared.refs > 0) {
    // The DataClient lives on for the others: this client stops hearing its events.
    host.eventTargets.delete(events);
    return;
  }
  singles.delete(host.options.name);
  await host.close();
}
