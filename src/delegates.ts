/**
 * Delegate descriptors: what each property of a created client does. Shared by the generator
 * (cluster.ts) and the roles, which need the DataClient's method names for subscribe,
 * unSubscribe, publish and close.
 */
import { InvalidArgumentError, InvalidDelegateError } from './errors.js';
import { symbols } from './symbols.js';

/** Where a delegated method goes. */
export const DELEGATE_TARGETS = ['subscribe', 'unSubscribe', 'publish', 'invoke', 'invokeOneway', 'close'] as const;
/** Where a delegated method goes: `subscribe`, `unSubscribe`, `publish`, `invoke`, `invokeOneway` or `close`. */
export type DelegateTarget = (typeof DELEGATE_TARGETS)[number];

/** @internal How a call's outcome is reported inside the library: an error, or null and the result. */
export type InvokeCallback = (err: unknown, result?: unknown) => void;

/** @internal What create() does with one member: delegate it, or set it to a value. */
export type Descriptor =
  | { type: 'delegate'; to: DelegateTarget }
  | { type: 'override'; value: unknown };

/** @internal The DataClient's method names for the special targets (the `from` of each delegate). */
export interface DelegateNames {
  subscribe: string | undefined;
  unSubscribe: string | undefined;
  publish: string | undefined;
  close: string | undefined;
}

/** @internal Whether `value` is one of DELEGATE_TARGETS. */
export function isDelegateTarget(value: unknown): value is DelegateTarget {
  return typeof value === 'string' && (DELEGATE_TARGETS as readonly string[]).includes(value);
}

/** @internal Returns `to` if it is a delegate target; throws InvalidDelegateError otherwise. */
export function checkDelegateTarget(from: string, to: unknown): DelegateTarget {
  if (!isDelegateTarget(to)) {
    throw new InvalidDelegateError(`delegate("${from}", ${JSON.stringify(to)}): unknown target; use one of ${DELEGATE_TARGETS.join(', ')}`);
  }
  return to;
}

/** @internal The first method delegated to each special target (what 3.x's findMethodName returns). */
export function delegateNames(descriptors: ReadonlyMap<string, Descriptor>): DelegateNames {
  const find = (target: DelegateTarget): string | undefined => {
    for (const [name, d] of descriptors) if (d.type === 'delegate' && d.to === target) return name;
    return undefined;
  };
  return { subscribe: find('subscribe'), unSubscribe: find('unSubscribe'), publish: find('publish'), close: find('close') };
}

/** Per-call options: `client.withCallOptions({ signal, timeout }).method(...)`. */
export interface CallOptions {
  /**
   * Aborting it rejects the call at once with ERR_CLUSTER_ABORTED (a call still waiting for a
   * leader is never sent). A call already sent may still run on the leader; its result is dropped.
   */
  signal?: AbortSignal | undefined;
  /**
   * Milliseconds the call may take, instead of `responseTimeout` (time spent waiting for a
   * leader included): then it rejects with ERR_CLUSTER_RESPONSE_TIMEOUT and a late result is dropped.
   */
  timeout?: number | undefined;
}

/** @internal Checks per-call options; throws InvalidArgumentError and returns them frozen. */
export function checkCallOptions(options: unknown): Readonly<CallOptions> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`withCallOptions(options): options must be an object like { signal, timeout }, got ${options === null ? 'null' : typeof options}`);
  }
  const { signal, timeout, ...rest } = options as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new InvalidArgumentError(`withCallOptions(options): unknown option ${JSON.stringify(unknown[0])}; use signal and timeout`);
  if (signal !== undefined && !isAbortSignal(signal)) {
    throw new InvalidArgumentError('withCallOptions(options): signal must be an AbortSignal');
  }
  if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1 || timeout > 2 ** 31 - 1)) {
    throw new InvalidArgumentError(`withCallOptions(options): timeout must be an integer number of ms from 1 to ${2 ** 31 - 1}, got ${String(timeout)}`);
  }
  return Object.freeze({ signal: signal as AbortSignal | undefined, timeout: timeout as number | undefined });
}

function isAbortSignal(value: unknown): value is AbortSignal {
  if (value instanceof AbortSignal) return true;
  // A signal from another realm (vm, a polyfill) has the same shape.
  const candidate = value as Partial<AbortSignal> | null;
  return typeof candidate === 'object' && candidate !== null && typeof candidate.aborted === 'boolean' && typeof candidate.addEventListener === 'function'
    && typeof candidate.removeEventListener === 'function';
}

/** @internal What a delegated invoke needs of the client. */
export interface Invoker {
  [symbols.invoke](method: string, args: unknown[], callback?: InvokeCallback, call?: Readonly<CallOptions>): void;
}

/** @internal A delegated invoke: a trailing function argument is a callback, otherwise it returns a promise. */
export function invokeDelegate(client: Invoker, method: string, call?: Readonly<CallOptions>): (...args: unknown[]) => Promise<unknown> | undefined {
  return (...args: unknown[]) => {
    const last = args[args.length - 1];
    if (typeof last === 'function') {
      args.pop();
      client[symbols.invoke](method, args, last as InvokeCallback, call);
      return undefined;
    }
    return new Promise((resolve, reject) => {
      client[symbols.invoke](method, args, (err, result) => (err ? reject(err) : resolve(result)), call);
    });
  };
}

/** @internal A delegated oneway invoke: fire and forget. */
export function onewayDelegate(client: Invoker, method: string, call?: Readonly<CallOptions>): (...args: unknown[]) => void {
  return (...args: unknown[]) => client[symbols.invoke](method, args, undefined, call);
}
