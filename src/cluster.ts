/**
 * `cluster(DataClient, options)`: the client generator of cluster-client 3.x, typed.
 *
 * ```ts
 * const client = cluster(RegistryClient, { port: 7777 })
 *   .delegate('getData')              // invoke: Promise of the leader's result
 *   .delegate('notify', 'invokeOneway')
 *   .create(constructorOptions);
 * await client.ready();
 * const data = await client.getData('key');  // typed from RegistryClient#getData
 * ```
 */
import { ClusterClient } from './client/cluster-client.js';
import { checkDelegateTarget, type DelegateTarget, type Descriptor, invokeDelegate, onewayDelegate } from './delegates.js';
import { InvalidArgumentError, InvalidDelegateError } from './errors.js';
import { isGeneratorFunction } from './roles/host.js';
import { type ClusterOptions, resolveOptions } from './options.js';
import type { ClientStats } from './stats.js';
import { symbols } from './symbols.js';

// ---------------------------------------------------------------------------------------------
// Types

/** Any DataClient class. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- `any` in a constraint only; never in a value type
export type DataClientClass = abstract new (...args: any) => object;

type Fn = (...args: never[]) => unknown;

/** Names of the methods of `T` (string keys whose value is a function). */
export type MethodKeys<T> = { [K in keyof T]-?: K extends string ? (T[K] extends Fn ? K : never) : never }[keyof T];

/** The awaited result of a method: promises are awaited, generators run to their return value. */
export type MethodResult<R> = R extends Generator<unknown, infer G, unknown> ? Awaited<G> : Awaited<R>;

type Callback<R> = (err: never, result: R) => unknown;

/** A delegated `invoke`: same parameters as the DataClient method, returns a promise of its result. */
export type InvokeMethod<F> = F extends (...args: infer P) => infer R
  ? P extends [...infer Head, Callback<infer C>]
    // Callback-style method: call it with the callback, or without it for a promise.
    ? { (...args: P): void; (...args: Head): Promise<C> }
    : (...args: P) => Promise<MethodResult<R>>
  : never;

/** A delegated `invokeOneway`: fire and forget. */
export type OnewayMethod<F> = F extends (...args: infer P) => unknown ? (...args: P) => void : never;

type RegOf<F> = F extends (reg: infer Reg, ...rest: never[]) => unknown ? Reg : unknown;
type ValueOf<F> = F extends (reg: never, listener: (value: infer V) => unknown, ...rest: never[]) => unknown ? V : unknown;

/** A delegated `subscribe`: `listener` gets every value pushed for `reg`. */
export type SubscribeMethod<F> = (reg: RegOf<F>, listener: (value: ValueOf<F>) => void) => void;
/** A delegated `unSubscribe`: removes `listener`, or every listener of `reg` if omitted. */
export type UnSubscribeMethod<F> = (reg: RegOf<F>, listener?: (value: ValueOf<F>) => void) => void;
/** A delegated `publish`: published through the leader's DataClient, and again to every new leader. */
export type PublishMethod<F> = (reg: RegOf<F>) => void;

type Member<C, K> = K extends keyof C ? C[K] : unknown;

/** The method a delegate creates for `from` → `to`. */
export type DelegatedMethod<C, K, To extends DelegateTarget> =
  To extends 'invoke' ? InvokeMethod<Member<C, K>>
    : To extends 'invokeOneway' ? OnewayMethod<Member<C, K>>
      : To extends 'subscribe' ? SubscribeMethod<Member<C, K>>
        : To extends 'unSubscribe' ? UnSubscribeMethod<Member<C, K>>
          : To extends 'publish' ? PublishMethod<Member<C, K>>
            : () => Promise<void>;

type SpecialMethod = 'subscribe' | 'unSubscribe' | 'publish' | 'close';
/**
 * Members of the client a DataClient method may replace: `close` (3.x) and `stats` (a DataClient
 * of 3.x days may have its own; `cluster.stats(client)` always reaches ours).
 */
type Replaceable = 'close' | 'stats';
/** Members of the client itself (and of EventEmitter / sdk-base) that are never auto-delegated. */
type ReservedKeys = Exclude<keyof ClusterClient, Replaceable>;

type AutoInvokeKeys<C> = {
  [K in keyof C]-?: K extends string
    ? K extends `_${string}` | SpecialMethod | ReservedKeys
      ? never
      : C[K] extends (...args: never[]) => infer R ? (R extends PromiseLike<unknown> | Generator ? K : never) : never
    : never;
}[keyof C];

/** What `autoGenerate` adds: subscribe/unSubscribe/publish/close if the class has them, and every async or generator method. */
export type AutoDelegates<C> =
  & { [K in AutoInvokeKeys<C>]: InvokeMethod<C[K]> }
  & { [K in Extract<MethodKeys<C>, SpecialMethod>]: DelegatedMethod<C, K, K> };

type Instance<Cls extends DataClientClass> = InstanceType<Cls>;
type AutoOf<Cls extends DataClientClass, O> = O extends { autoGenerate: false } ? unknown : AutoDelegates<Instance<Cls>>;

/**
 * A created client: the cluster client plus every delegated and overridden member. `O` (the
 * cluster options) and `D` (explicit delegates) default to none, so
 * `CreatedClient<typeof DataClient>` is a client with the auto-generated delegates:
 * `class API extends APIClientBase<CreatedClient<typeof DataClient>>`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- "no options", "no delegates"
export type CreatedClient<Cls extends DataClientClass, O = {}, D = {}> =
  // A delegated `stats` replaces ours (its type differs); a delegated `close` fits sdk-base's.
  ('stats' extends keyof (AutoOf<Cls, O> & D) ? Omit<ClusterClient, 'stats'> : ClusterClient)
  & Omit<AutoOf<Cls, O>, keyof D> & D;

// ---------------------------------------------------------------------------------------------
// Runtime

const AUTO_SPECIAL: readonly SpecialMethod[] = ['subscribe', 'unSubscribe', 'publish', 'close'];

function isAsyncFunction(fn: unknown): boolean {
  return typeof fn === 'function' && (fn.constructor?.name === 'AsyncFunction' || fn.constructor?.name === 'AsyncGeneratorFunction');
}

/** Members of the client that a delegate may not replace (`close` may be delegated, as in 3.x, and `stats`). */
function isReserved(name: string): boolean {
  return name !== 'close' && name !== 'stats' && name in ClusterClient.prototype;
}

/** Methods the DataClient must have for a delegate to `to`. */
const NEEDS_METHOD: ReadonlySet<DelegateTarget> = new Set(['invoke', 'invokeOneway', 'subscribe', 'publish']);

function delegateValue(client: ClusterClient, name: string, to: DelegateTarget): unknown {
  switch (to) {
    case 'invoke': return invokeDelegate(client, name);
    case 'invokeOneway': return onewayDelegate(client, name);
    case 'subscribe': return client[symbols.subscribe].bind(client);
    case 'unSubscribe': return client[symbols.unSubscribe].bind(client);
    case 'publish': return client[symbols.publish].bind(client);
    case 'close': return client[symbols.close].bind(client);
  }
}

/** Builds cluster clients for one DataClient class. Returned by `cluster()`. */
export class ClientGenerator<Cls extends DataClientClass, O extends ClusterOptions = ClusterOptions, D = unknown> {
  readonly #DataClient: Cls;
  readonly #options: ClusterOptions;
  readonly #descriptors = new Map<string, Descriptor>();

  constructor(DataClient: Cls, options?: O) {
    if (typeof DataClient !== 'function' || typeof DataClient.prototype !== 'object') {
      throw new InvalidArgumentError(`cluster(DataClient): DataClient must be a class, got ${DataClient === null ? 'null' : typeof DataClient}`);
    }
    this.#DataClient = DataClient;
    this.#options = options ?? {};
    // Validate now so a bad option throws here, before anything starts.
    resolveOptions(DataClient.name, this.#options);
  }

  /**
   * Delegates `from` to `to` (default `invoke`). Invoke targets need a method of that name on
   * the DataClient; `subscribe`/`unSubscribe`/`publish`/`close` may use any name.
   */
  delegate<K extends MethodKeys<Instance<Cls>>>(from: K): ClientGenerator<Cls, O, D & { [P in K]: InvokeMethod<Instance<Cls>[P]> }>;
  delegate<K extends MethodKeys<Instance<Cls>>, To extends 'invoke' | 'invokeOneway'>(from: K, to: To): ClientGenerator<Cls, O, D & { [P in K]: DelegatedMethod<Instance<Cls>, P, To> }>;
  delegate<K extends string, To extends SpecialMethod>(from: K, to: To): ClientGenerator<Cls, O, D & { [P in K]: DelegatedMethod<Instance<Cls>, P, To> }>;
  delegate(from: string, to: DelegateTarget = 'invoke'): unknown {
    if (typeof from !== 'string' || from === '') {
      throw new InvalidDelegateError(`delegate(from, to): from must be a non-empty method name, got ${typeof from}`);
    }
    const target = checkDelegateTarget(from, to);
    if (isReserved(from)) {
      throw new InvalidDelegateError(`delegate("${from}", "${target}"): "${from}" is a member of the cluster client itself and cannot be delegated`);
    }
    if (NEEDS_METHOD.has(target) && typeof (this.#DataClient.prototype as Record<string, unknown>)[from] !== 'function') {
      throw new InvalidDelegateError(`delegate("${from}", "${target}"): ${this.#DataClient.name} has no method "${from}" ([ClusterClient] api: ${from} not implement in client)`);
    }
    this.#descriptors.set(from, { type: 'delegate', to: target });
    return this;
  }

  /** Sets a property of every created client to `value`. */
  override<K extends string, V>(name: K, value: V): ClientGenerator<Cls, O, Omit<D, K> & { [P in K]: V }> {
    if (typeof name !== 'string' || name === '') {
      throw new InvalidArgumentError(`override(name, value): name must be a non-empty string, got ${typeof name}`);
    }
    if (isReserved(name)) {
      throw new InvalidArgumentError(`override("${name}"): "${name}" is a member of the cluster client itself and cannot be overridden`);
    }
    this.#descriptors.set(name, { type: 'override', value });
    return this as unknown as ClientGenerator<Cls, O, Omit<D, K> & { [P in K]: V }>;
  }

  /**
   * Creates a client. `args` go to the DataClient constructor, which runs only in the process
   * that leads (or in single mode).
   */
  create(...args: ConstructorParameters<Cls>): CreatedClient<Cls, O, D> {
    const DataClient = this.#DataClient;
    const options = resolveOptions(DataClient.name, this.#options);
    const descriptors = new Map(this.#descriptors);
    if (options.autoGenerate) autoGenerate(DataClient, descriptors);
    const client = new ClusterClient(options, DataClient, () => Reflect.construct(DataClient, args) as object, descriptors);
    for (const [name, descriptor] of descriptors) {
      Object.defineProperty(client, name, {
        value: descriptor.type === 'override' ? descriptor.value : delegateValue(client, name, descriptor.to),
        writable: true,
        enumerable: true,
        configurable: true,
      });
    }
    return client as unknown as CreatedClient<Cls, O, D>;
  }
}

/** 3.x's autoGenerate: special methods the class has, then its own async and generator methods. */
function autoGenerate(DataClient: DataClientClass, descriptors: Map<string, Descriptor>): void {
  const proto = DataClient.prototype as Record<string, unknown>;
  const handled = new Set<string>();
  for (const [name, d] of descriptors) {
    handled.add(name);
    if (d.type === 'delegate') handled.add(d.to);
  }
  for (const method of AUTO_SPECIAL) {
    if (!handled.has(method) && typeof proto[method] === 'function') descriptors.set(method, { type: 'delegate', to: method });
  }
  for (const key of Reflect.ownKeys(proto)) {
    if (typeof key !== 'string' || key.startsWith('_') || descriptors.has(key) || isReserved(key)) continue;
    const value = Reflect.getOwnPropertyDescriptor(proto, key)?.value;
    if (isGeneratorFunction(value) || isAsyncFunction(value)) descriptors.set(key, { type: 'delegate', to: 'invoke' });
  }
}

/**
 * Starts building cluster clients of `DataClient`. Throws (InvalidArgumentError /
 * InvalidOptionError) on a bad class or option, before anything is started.
 */
export function cluster<Cls extends DataClientClass, O extends ClusterOptions = ClusterOptions>(DataClient: Cls, options?: O): ClientGenerator<Cls, O> {
  return new ClientGenerator(DataClient, options);
}

/**
 * A snapshot of a client created by `cluster()` (see ClientStats), also when its DataClient's
 * own `stats` method is delegated in place of `client.stats()`. Throws InvalidArgumentError at
 * once if `client` is not one.
 */
export function stats(client: object): ClientStats {
  const fn = client !== null && typeof client === 'object' ? (client as Record<symbol, unknown>)[symbols.stats] : undefined;
  if (typeof fn !== 'function') {
    throw new InvalidArgumentError('stats(client): client must be a client created by cluster-share\'s cluster()');
  }
  return (fn as () => ClientStats).call(client);
}

/**
 * Closes a client created by `cluster()` (also one created by cluster-client 3.x). Throws
 * InvalidArgumentError at once if `client` is not one.
 */
export function close(client: object): Promise<void> {
  const fn = client !== null && typeof client === 'object' ? (client as Record<symbol, unknown>)[symbols.close] : undefined;
  if (typeof fn !== 'function') {
    throw new InvalidArgumentError('close(client): client must be a client created by cluster()');
  }
  return (fn as () => Promise<void>).call(client);
}
