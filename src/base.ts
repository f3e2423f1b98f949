/**
 * The base class of the public classes (the cluster client and APIClientBase). It behaves like
 * sdk-base 4, the base cluster-client 3.x is built on, because that is what 3.x users' code
 * relies on:
 *
 * - `options` is the object given to the constructor (APIClientBase subclasses read their own
 *   options from `this.options`).
 * - `ready(err)` with nobody waiting for ready emits `'error'`, so a failed start is never silent.
 * - `await(event)` waits for that event only; `await('error')` rejects with the error.
 *   `awaitFirst(events)` settles on the first of `events` (rejecting if that is `'error'`).
 * - `initMethod` may name an async or a generator method; its failure fails `ready()` once.
 * - A generator function may be an event listener (run with co; its failure is emitted as `'error'`).
 * - An `'error'` nobody listens to is printed by a default listener instead of throwing.
 *
 * Written here rather than depending on sdk-base 4, whose typings use `any`.
 */
import { EventEmitter } from 'node:events';
import type { AsyncLocalStorage } from 'node:async_hooks';
import { format } from 'node:util';
import co from 'co';

/** Options every Base takes. Any other field is kept on `this.options`. */
export interface BaseOptions {
  /** Name of a method (async, promise-returning or generator) that finishes start-up; `ready()` waits for it. */
  initMethod?: string;
  /** Returned by the `localStorage` getter. */
  localStorage?: AsyncLocalStorage<unknown>;
  [key: string]: unknown;
}

/** What `awaitFirst()` resolves with: the event that came first and its arguments. */
export interface FirstEvent {
  event: string | symbol;
  args: unknown[];
}

/** What `ready(callback)` calls: with the start error, or with nothing once ready. */
export type ReadyCallback = (err?: Error | null) => void;
/** An event listener (a generator function is accepted too, as in sdk-base 4). */
export type Listener = (...args: never[]) => unknown;
type GeneratorListener = Listener & { original?: Listener };
/** How EventEmitter's own signatures see a listener. */
type EmitterListener = (...args: unknown[]) => void;

function isGeneratorFunction(fn: unknown): fn is (...args: unknown[]) => Generator {
  return typeof fn === 'function' && fn.constructor?.name === 'GeneratorFunction';
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function';
}

/** Base class with sdk-base 4's ready, await, initMethod, close and default error handling. */
export class Base extends EventEmitter {
  /** The options given to the constructor (`{}` if none). */
  options: BaseOptions;
  #ready = false;
  #readyError: Error | null = null;
  #readyCallbacks: ReadyCallback[] = [];
  #closing: Promise<void> | undefined;
  #closed = false;

  constructor(options?: BaseOptions) {
    super();
    this.options = options ?? {};
    const initMethod = this.options.initMethod;
    if (initMethod) {
      const method = (this as unknown as Record<string, unknown>)[initMethod];
      if (typeof method !== 'function') throw new TypeError(`[sdk-base] this.${initMethod} should be a function.`);
      process.nextTick(() => this.#runInit(method as (...args: unknown[]) => unknown));
    }
    this.on('error', (err: Error) => this._defaultErrorHandler(err));
  }

  #runInit(method: (...args: unknown[]) => unknown): void {
    let ret: unknown;
    try {
      ret = isGeneratorFunction(method) ? co.wrap(method).call(this) : method.call(this);
    } catch (err) {
      this.ready(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (!isThenable(ret)) {
      this.ready(new TypeError(`[sdk-base] this.${this.options.initMethod} should return either a promise or a generator`));
      return;
    }
    ret.then(() => this.ready(true), (err: unknown) => this.ready(err instanceof Error ? err : new Error(String(err))));
  }

  /** True once ready(true) was called. */
  get isReady(): boolean {
    return this.#ready;
  }

  /** `options.localStorage`, if given. */
  get localStorage(): AsyncLocalStorage<unknown> | undefined {
    return this.options.localStorage;
  }

  /** A promise of readiness: resolves once ready, rejects with the start error. */
  ready(): Promise<void>;
  /** Marks the instance ready (true), not ready (false), or failed (an Error: emitted as 'error' if nobody waits). */
  ready(flagOrError: boolean | Error): void;
  /** Calls `callback` once ready (with no error) or failed (with the error), on a later tick. */
  ready(callback: ReadyCallback): void;
  ready(flagOrFunction?: boolean | Error | ReadyCallback): Promise<void> | void {
    if (flagOrFunction === undefined) {
      return new Promise<void>((resolve, reject) => {
        if (this.#ready) resolve();
        else if (this.#readyError) reject(this.#readyError);
        else this.#readyCallbacks.push(err => (err ? reject(err) : resolve()));
      });
    }
    if (typeof flagOrFunction === 'function') {
      this.#readyCallbacks.push(flagOrFunction);
    } else if (flagOrFunction instanceof Error) {
      this.#ready = false;
      this.#readyError = flagOrFunction;
      if (this.#readyCallbacks.length === 0) this.emit('error', flagOrFunction);
    } else {
      this.#ready = flagOrFunction;
    }
    if (this.#ready || this.#readyError) {
      const error = this.#readyError;
      for (const callback of this.#readyCallbacks.splice(0)) process.nextTick(callback, error);
    }
  }

  /** Resolves once ready, rejects with the start error, or with a timeout error after `milliseconds`. */
  async readyOrTimeout(milliseconds: number): Promise<void> {
    if (this.#ready) return;
    if (this.#readyError) throw this.#readyError;
    let callback: ReadyCallback | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        callback = err => (err ? reject(err) : resolve());
        this.#readyCallbacks.push(callback);
        timer = setTimeout(() => {
          const err = new Error(`Promise timed out after ${milliseconds} milliseconds`);
          err.name = 'TimeoutError';
          reject(err);
        }, milliseconds);
      });
    } finally {
      clearTimeout(timer);
      const index = callback ? this.#readyCallbacks.indexOf(callback) : -1;
      if (index >= 0) this.#readyCallbacks.splice(index, 1);
    }
  }

  /**
   * Resolves with the first argument of the next `event`. Waits for that event only: an
   * `'error'` meanwhile does not reject it, except for `await('error')`, which rejects with it.
   */
  await<T = unknown>(event: string | symbol): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.once(event, event === 'error' ? reject : resolve);
    });
  }

  /** Settles on the first of `events` to be emitted: `{ event, args }`, or rejects if `'error'` came first. */
  awaitFirst(events: ReadonlyArray<string | symbol>): Promise<FirstEvent> {
    return new Promise<FirstEvent>((resolve, reject) => {
      const handlers = new Map<string | symbol, (...args: unknown[]) => void>();
      const cleanup = (): void => {
        for (const [event, handler] of handlers) this.removeListener(event, handler);
      };
      for (const event of events) {
        if (handlers.has(event)) continue;
        handlers.set(event, (...args: unknown[]) => {
          cleanup();
          if (event === 'error') reject(args[0]);
          else resolve({ event, args });
        });
      }
      for (const [event, handler] of handlers) super.on(event, handler);
    });
  }

  /** Prints an `'error'` that only the default listener hears (no crash, no silence). */
  _defaultErrorHandler(err: Error): void {
    if (this.listeners('error').length > 1) return;
    console.error('\n[%s][pid: %s][%s] %s: %s \nError Stack:\n  %s', Date(), process.pid, this.constructor.name, err?.name, err?.message, err?.stack);
    const additions: string[] = [];
    for (const key in err) {
      if (key === 'name' || key === 'message') continue;
      additions.push(format('  %s: %j', key, (err as unknown as Record<string, unknown>)[key]));
    }
    if (additions.length > 0) console.error('Error Additions:\n%s', additions.join('\n'));
    console.error();
  }

  /** Closes once through `_close()` if the subclass has one; a failure is emitted as `'error'`. Idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const closeMethod = (this as unknown as { _close?: unknown })._close;
    try {
      if (typeof closeMethod === 'function') {
        await (isGeneratorFunction(closeMethod) ? co.wrap(closeMethod).call(this) : (closeMethod as () => unknown).call(this));
      }
    } catch (err) {
      this.emit('error', err);
    } finally {
      this.#closed = true;
    }
  }

  /** True once `close()` finished. */
  get isClosed(): boolean {
    return this.#closed;
  }

  // A generator function may be a listener (as sdk-base 4): it runs with co, a failure is emitted as 'error'.
  #wrap(event: string | symbol, listener: Listener): EmitterListener {
    if (!isGeneratorFunction(listener)) return listener as EmitterListener;
    if (event === 'error') throw new TypeError('[sdk-base] `error` event should not have a generator listener.');
    const wrapped: GeneratorListener = (...args: never[]) => {
      co(function* run() {
        yield listener(...args);
      }).catch((err: Error) => {
        err.name = 'EventListenerProcessError';
        this.emit('error', err);
      });
    };
    wrapped.original = listener;
    return wrapped as EmitterListener;
  }

  override addListener(event: string | symbol, listener: Listener): this {
    return super.addListener(event, this.#wrap(event, listener));
  }

  override on(event: string | symbol, listener: Listener): this {
    return super.on(event, this.#wrap(event, listener));
  }

  override once(event: string | symbol, listener: Listener): this {
    return super.once(event, this.#wrap(event, listener));
  }

  override prependListener(event: string | symbol, listener: Listener): this {
    return super.prependListener(event, this.#wrap(event, listener));
  }

  override prependOnceListener(event: string | symbol, listener: Listener): this {
    return super.prependOnceListener(event, this.#wrap(event, listener));
  }

  override removeListener(event: string | symbol, listener: Listener): this {
    if (isGeneratorFunction(listener)) {
      const wrapped = (this.rawListeners(event) as GeneratorListener[]).find(fn => fn.original === listener);
      if (wrapped) return super.removeListener(event, wrapped as EmitterListener);
    }
    return super.removeListener(event, listener as EmitterListener);
  }

  override off(event: string | symbol, listener: Listener): this {
    return this.removeListener(event, listener);
  }
}
