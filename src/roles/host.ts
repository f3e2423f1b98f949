/**
 * Holds the real DataClient (on the leader, and in single mode): waits for its ready, invokes
 * its methods in every call style, and keeps ONE upstream subscription per key whose values
 * are encoded once and fanned out to every subscriber (followers and local clients).
 */
import { EventEmitter } from 'node:events';
import { randomInt } from 'node:crypto';
import { debuglog } from 'node:util';
import co from 'co';
import { Base } from '../base.js';
import { MethodNotFoundError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import type { Codec } from '../protocol/packet.js';
import { encoderAfter } from '../protocol/codec.js';
import type { DelegateNames, InvokeCallback } from '../delegates.js';

const debug = debuglog('cluster-share:host');

/** Prefix of every subscription key on the wire (as 3.x). */
export const SUBSCRIPTION_KEY_PREFIX = '$$inner$$__';

/** Receives the values of the keys it subscribed, in the codec it speaks. */
export interface Subscriber {
  /** The codec this subscriber's values are encoded with. */
  readonly codec: Codec;
  /**
   * A value for `key`. `encoded.bytes(this.codec)` and `encoded.framed(this.codec, …)` throw a
   * CodecFailure when the value cannot be encoded in that codec; the host catches it.
   */
  deliver(key: string, encoded: EncodedValue): void;
  /**
   * How many bytes this subscriber's framer wants free in front of a value of `key` in its codec
   * (see EncodedValue.framed), if any. Asked once per subscriber and key.
   */
  frameRoom?(key: string): number;
}

/** Turns a value's bytes into what a subscriber writes (see EncodedValue.framed). */
export interface Framer<T> {
  /**
   * The value's bytes are `buf[start ..]`; `buf[0 .. start)` is free for the framer (the room a
   * subscriber asked for with frameRoom, or 0 bytes).
   */
  frame(key: string, buf: Buffer, start: number): T;
}

/** A value that could not be encoded in a subscriber's codec (`cause`: the codec's error). */
export class CodecFailure extends Error {
  constructor(cause: unknown) {
    super(`the value cannot be encoded with the subscriber's codec: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = 'CodecFailure';
  }
}

/** Another codec's bytes of a value (or why it has none), and what a subscriber framed them into. */
interface Encoding {
  data: Buffer | undefined;
  failure: CodecFailure | undefined;
  framed: unknown;
}

/**
 * One subscription value, encoded at most once per codec however many subscribers speak it.
 * While the value is being fanned out it is encoded from the value itself; once sealed (kept as
 * the last value for late subscribers) other codecs are derived from the first encoding, so a
 * later change to the object by the DataClient is never seen.
 *
 * The first codec (the one nearly every subscriber speaks) is kept in fields: a pushed value
 * costs no Map, and each subscriber's delivery is one field read. If that codec can (see
 * encoderAfter), its bytes are made after `room` free bytes, where the leader's framer writes the
 * packet's header: the packet a follower gets is then that one buffer, not a copy.
 */
export class EncodedValue {
  /** The subscription key the value is for. */
  readonly key: string;
  readonly #first: Codec;
  /** The first codec's bytes, from #firstStart on. */
  readonly #firstBuf: Buffer;
  readonly #firstStart: number;
  /** Those bytes alone (a view, made when asked for). */
  #firstData: Buffer | undefined;
  #firstFramed: unknown;
  /** The other codecs' encodings, made when a subscriber first needs one. */
  #others: Map<Codec, Encoding> | undefined;
  #value: unknown;
  #sealed = false;

  constructor(key: string, value: unknown, first: Codec, room = 0) {
    this.key = key;
    this.#value = value;
    this.#first = first;
    const encodeAfter = room > 0 ? encoderAfter(first) : undefined;
    this.#firstBuf = encodeAfter ? encodeAfter(value, room) : first.encode(value);
    this.#firstStart = encodeAfter ? room : 0;
  }

  #data(): Buffer {
    return this.#firstData ??= this.#firstStart === 0 ? this.#firstBuf : this.#firstBuf.subarray(this.#firstStart);
  }

  #other(codec: Codec): Encoding & { data: Buffer } {
    this.#others ??= new Map();
    let encoding = this.#others.get(codec);
    if (!encoding) {
      encoding = { data: undefined, failure: undefined, framed: undefined };
      try {
        encoding.data = codec.encode(this.#sealed ? this.#first.decode(this.#data()) : this.#value);
      } catch (err) {
        encoding.failure = new CodecFailure(err);
      }
      this.#others.set(codec, encoding);
    }
    if (encoding.failure) throw encoding.failure;
    return encoding as Encoding & { data: Buffer };
  }

  /** The value's bytes in `codec`. Throws a CodecFailure if the codec cannot encode the value. */
  bytes(codec: Codec): Buffer {
    return codec === this.#first ? this.#data() : this.#other(codec).data;
  }

  /**
   * What `frame` makes of the bytes in `codec`, made once per codec and kept with the value (the
   * leader's push packet: the same bytes go to every follower of that codec). One framing per
   * value: every caller's framer frames alike (and asks for the same room). Throws a
   * CodecFailure as `bytes` does.
   */
  framed<T>(codec: Codec, framer: Framer<T>): T {
    if (codec === this.#first) return (this.#firstFramed ??= framer.frame(this.key, this.#firstBuf, this.#firstStart)) as T;
    const encoding = this.#other(codec);
    encoding.framed ??= framer.frame(this.key, encoding.data, 0);
    return encoding.framed as T;
  }

  /** Drops the reference to the original value. */
  seal(): void {
    this.#sealed = true;
    this.#value = undefined;
  }
}

interface Topic {
  subscribers: Set<Subscriber>;
  last: EncodedValue | undefined;
  /** The room in front of each value's first encoding: the most any subscriber asked for. */
  room: number;
}

type AnyFunction = (...args: unknown[]) => unknown;

const noop = (): void => {};

export function isGeneratorFunction(fn: unknown): boolean {
  return typeof fn === 'function' && fn.constructor?.name === 'GeneratorFunction';
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function';
}

/** Prototypes whose methods every object, emitter or sdk-base client has. */
const BASE_PROTOTYPES: ReadonlySet<object> = new Set([Object.prototype, EventEmitter.prototype, Base.prototype]);
/** Their method names: a peer may not invoke these unless the DataClient's own class defines them. */
const BASE_METHOD_NAMES: ReadonlySet<string> = new Set([...BASE_PROTOTYPES].flatMap(proto => Object.getOwnPropertyNames(proto)));

/** sdk-base's class, of whatever version or copy the DataClient extends (it is named Base). */
function isSdkBase(proto: object): boolean {
  return (proto as { constructor?: { name?: unknown } }).constructor?.name === 'Base';
}

/** Whether one of the DataClient's own classes (below the base prototypes) defines `method`. */
function ownClassDefines(client: object, method: string): boolean {
  for (let proto: object | null = Object.getPrototypeOf(client); proto && !BASE_PROTOTYPES.has(proto); proto = Object.getPrototypeOf(proto)) {
    if (!isSdkBase(proto) && Object.prototype.hasOwnProperty.call(proto, method)) return true;
  }
  return false;
}

/**
 * Calls `fn` in whichever style it uses: generator (run with co), promise-returning or async,
 * callback-style (a trailing callback is always appended, as 3.x does), or plain sync.
 * `callback` is called exactly once; a synchronous throw becomes an error result.
 */
export function callInAnyStyle(target: object, fn: AnyFunction, args: unknown[], callback: InvokeCallback): void {
  let done = false;
  const once: InvokeCallback = (err, result) => {
    if (done) return;
    done = true;
    callback(err, result);
  };
  try {
    if (isGeneratorFunction(fn)) {
      co.wrap(fn as (...a: unknown[]) => Generator).apply(target, args).then(r => once(null, r), once);
      return;
    }
    const ret = fn.apply(target, [...args, once]);
    if (isThenable(ret)) ret.then(r => once(null, r), err => once(err ?? new Error('rejected without a reason')));
    // A plain synchronous function (it declares no parameter for the callback) answers with
    // its return value; a callback-style one answers through the callback.
    else if (fn.length <= args.length) once(null, ret);
  } catch (err) {
    once(err);
  }
}

/**
 * Re-emits every event of `from` on the targets (DataClient events reach the wrappers). An
 * `'error'` is the targets' to report: `from` gets a listener of its own so that it neither
 * throws nor prints it (sdk-base prints an error only its default listener hears), and each
 * target prints it only if the application does not listen. With no target left, `orphan` gets it.
 */
export function relayEvents(from: EventEmitter, targets: Set<EventEmitter>, orphan: (err: unknown) => void = noop): void {
  from.on('error', (err: unknown) => {
    if (targets.size === 0) orphan(err);
  });
  const emit = from.emit;
  from.emit = function relayedEmit(this: EventEmitter, event: string | symbol, ...args: unknown[]): boolean {
    const handled = emit.call(this, event, ...args);
    for (const target of targets) target.emit(event, ...args);
    return handled;
  };
}

export class DataClientHost {
  readonly options: ResolvedOptions;
  readonly realClient: object;
  readonly methods: DelegateNames;
  /** Wrappers that receive the DataClient's events. */
  readonly eventTargets: Set<EventEmitter> = new Set();
  /**
   * The richest codec this process speaks: subscription values are first encoded (and kept)
   * with it, so values derived from it for other codecs lose nothing those could keep; local
   * subscribers get their copies through it.
   */
  readonly snapshotCodec: Codec;
  readonly #ready: Promise<void>;
  readonly #topics = new Map<string, Topic>();
  #closed = false;

  constructor(options: ResolvedOptions, realClient: object, methods: DelegateNames) {
    this.options = options;
    this.realClient = realClient;
    this.methods = methods;
    this.snapshotCodec = options.codecs[0] ?? options.transcode;
    if (realClient instanceof EventEmitter) {
      relayEvents(realClient, this.eventTargets, err => options.logger.error(`[cluster-share] "${options.name}": the DataClient emitted an error: ${(err as Error)?.stack ?? String(err)}`));
    }
    this.#ready = waitReady(realClient);
    debug('%s: DataClient created in pid %d', options.name, process.pid);
    const { startWarningAfter, logger, name } = options;
    const slow = startWarningAfter > 0 ? setTimeout(() => {
      logger.warn(`[cluster-share] "${name}": the DataClient (${realClient.constructor?.name ?? 'object'}) in pid ${process.pid} is still not ready after ${startWarningAfter}ms (startWarningAfter); its followers wait for it`);
    }, startWarningAfter) : undefined;
    slow?.unref();
    this.#ready.then(
      () => {
        clearTimeout(slow);
        debug('%s: DataClient ready', name);
      },
      // Callers observe the failure through ready(); no unhandled rejection meanwhile.
      (err: Error) => {
        clearTimeout(slow);
        debug('%s: DataClient failed to start: %s', name, err.message);
      },
    );
  }

  /** Resolves when the DataClient is ready; rejects with its start error. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Subscription key on the wire for a `reg`. */
  keyOf(reg: unknown): string {
    return SUBSCRIPTION_KEY_PREFIX + this.options.formatKey(reg);
  }

  invoke(method: string, args: unknown[], callback: InvokeCallback): void {
    const fn = (this.realClient as Record<string, unknown>)[method];
    if (typeof fn !== 'function') {
      callback(new MethodNotFoundError(method));
      return;
    }
    if (!this.#invokable(method)) {
      callback(new MethodNotFoundError(method, 'it is not invokable remotely: methods of Object, EventEmitter and sdk-base, and the delegated close, belong to the leader'));
      return;
    }
    callInAnyStyle(this.realClient, fn as AnyFunction, args, callback);
  }

  /**
   * A peer may call the DataClient's own methods, not what every object or emitter has (`emit`
   * would forge events on the leader, `hasOwnProperty` is no API) nor the one that closes the
   * DataClient for everyone.
   */
  #invokable(method: string): boolean {
    if (method === 'constructor' || method === this.methods.close) return false;
    return !BASE_METHOD_NAMES.has(method) || ownClassDefines(this.realClient, method);
  }

  /** Adds a subscriber to `key`; subscribes upstream once per key; replays the last value. */
  subscribe(key: string, reg: unknown, subscriber: Subscriber): void {
    let topic = this.#topics.get(key);
    if (!topic) {
      topic = { subscribers: new Set([subscriber]), last: undefined, room: subscriber.frameRoom?.(key) ?? 0 };
      this.#topics.set(key, topic);
      const name = this.methods.subscribe;
      if (!name) {
        this.options.logger.warn(`[cluster-share] "${this.options.name}": subscribe called but the DataClient has no subscribe method`);
        return;
      }
      const current = topic;
      debug('%s: subscribing upstream to %s', this.options.name, key);
      const listener = (value: unknown): void => this.#publishValue(current, key, value);
      (this.realClient as Record<string, AnyFunction>)[name]!(reg, listener);
      return;
    }
    topic.subscribers.add(subscriber);
    topic.room = Math.max(topic.room, subscriber.frameRoom?.(key) ?? 0);
    if (topic.last && this.options.isBroadcast) this.#deliver(subscriber, key, topic.last);
  }

  unSubscribe(key: string, subscriber: Subscriber): void {
    this.#topics.get(key)?.subscribers.delete(subscriber);
  }

  /** Subscription keys held upstream, or those `subscriber` holds. */
  subscriptionCount(subscriber?: Subscriber): number {
    if (!subscriber) return this.#topics.size;
    let count = 0;
    for (const topic of this.#topics.values()) if (topic.subscribers.has(subscriber)) count++;
    return count;
  }

  /** Removes a subscriber from every key (its connection closed). */
  removeSubscriber(subscriber: Subscriber): void {
    for (const topic of this.#topics.values()) topic.subscribers.delete(subscriber);
  }

  publish(reg: unknown): void {
    const name = this.methods.publish;
    if (!name) {
      this.options.logger.warn(`[cluster-share] "${this.options.name}": publish called but the DataClient has no publish method`);
      return;
    }
    (this.realClient as Record<string, AnyFunction>)[name]!(reg);
  }

  /** Closes the DataClient through its delegated close method, if it has one. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    debug('%s: closing the DataClient', this.options.name);
    this.#topics.clear();
    const name = this.methods.close;
    const fn = name ? (this.realClient as Record<string, unknown>)[name] : undefined;
    if (typeof fn !== 'function') return;
    await new Promise<void>((resolve, reject) => {
      callInAnyStyle(this.realClient, fn as AnyFunction, [], err => (err ? reject(err) : resolve()));
    });
  }

  /** One upstream value: encode once per codec, remember it, send the same bytes to the subscribers. */
  #publishValue(topic: Topic, key: string, value: unknown): void {
    if (this.#closed) return;
    let encoded: EncodedValue;
    try {
      encoded = new EncodedValue(key, value, this.snapshotCodec, topic.room);
    } catch (err) {
      this.options.logger.warn(`[cluster-share] "${this.options.name}": subscription value for ${key} cannot be encoded; not delivered: ${(err as Error)?.message ?? err}`);
      return;
    }
    topic.last = encoded;
    const { subscribers } = topic;
    if (subscribers.size > 0) {
      if (this.options.isBroadcast) {
        for (const subscriber of subscribers) this.#deliver(subscriber, key, encoded);
      } else {
        let pick = randomInt(subscribers.size);
        for (const subscriber of subscribers) {
          if (pick-- === 0) {
            this.#deliver(subscriber, key, encoded);
            break;
          }
        }
      }
    }
    encoded.seal();
  }

  #deliver(subscriber: Subscriber, key: string, encoded: EncodedValue): void {
    try {
      subscriber.deliver(key, encoded);
    } catch (err) {
      this.#notDelivered(key, err);
    }
  }

  /** A subscriber did not get a value: the codec could not encode it, or its delivery failed. */
  #notDelivered(key: string, err: unknown): void {
    if (err instanceof CodecFailure) {
      this.options.logger.warn(`[cluster-share] "${this.options.name}": subscription value for ${key} cannot be encoded with a subscriber's codec; not delivered to it: ${(err.cause as Error)?.message ?? err.cause}`);
    } else {
      this.options.logger.warn(`[cluster-share] "${this.options.name}": ${(err as Error)?.message ?? err}; that subscriber did not get it`);
    }
  }
}

/** Waits for an sdk-base style `ready(cb)` (or promise), or nothing if there is no ready. */
function waitReady(client: object): Promise<void> {
  const ready = (client as { ready?: unknown }).ready;
  if (typeof ready !== 'function') return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (err: unknown): void => {
      if (settled) return;
      settled = true;
      if (err instanceof Error) reject(err);
      else resolve();
    };
    try {
      const ret = (ready as (cb: (err?: unknown) => void) => unknown).call(client, settle);
      if (isThenable(ret)) ret.then(() => settle(undefined), err => settle(err instanceof Error ? err : new Error(String(err))));
    } catch (err) {
      settle(err instanceof Error ? err : new Error(String(err)));
    }
  });
}
