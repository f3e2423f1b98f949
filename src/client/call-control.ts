/**
 * Per-call options at work (`client.withCallOptions({ signal, timeout })`): one CallControl per
 * call made with them settles the call exactly once, from the answer, the abort or the call's
 * own timer, and makes the role forget a call it gave up on, so a late answer is dropped.
 */
import { debuglog } from 'node:util';
import type { CallOptions } from '../delegates.js';
import { CallAbortedError, ResponseTimeoutError } from '../errors.js';
import type { InvokeCallback } from '../delegates.js';
import type { Role } from '../roles/role.js';

const debug = debuglog('cluster-share:client');

/**
 * One call made with per-call options (an AbortSignal, a timeout): settles exactly once, from
 * the answer, the abort or its own timer, whichever comes first; what comes later is dropped.
 */
export class CallControl {
  readonly method: string;
  readonly #callback: InvokeCallback | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #deadline: number | undefined;
  #settled = false;
  /** Where the call went (a role and its id there), or the queue it waits in. */
  #sent: { role: Role; id: number } | undefined;
  #unqueue: (() => void) | undefined;

  constructor(method: string, callback: InvokeCallback | undefined, call: Readonly<CallOptions>) {
    this.method = method;
    this.#callback = callback;
    this.#signal = call.signal;
    if (this.#signal) watchSignal(this.#signal, this);
    if (call.timeout !== undefined) {
      this.#deadline = Date.now() + call.timeout;
      const timeout = call.timeout;
      this.#timer = setTimeout(() => this.#giveUp(new ResponseTimeoutError(method, timeout, 'the per-call timeout passed')), timeout);
    }
  }

  get settled(): boolean {
    return this.#settled;
  }

  get hasTimeout(): boolean {
    return this.#deadline !== undefined;
  }

  /**
   * How long the role may wait for the answer: undefined for its own responseTimeout, else a
   * little past this call's deadline, so that this call's timer (the one that names the
   * caller's timeout) always fires first.
   */
  roleTimeout(): number | undefined {
    return this.#deadline === undefined ? undefined : Math.max(1, this.#deadline - Date.now()) + ROLE_TIMEOUT_MARGIN;
  }

  /** The call now waits in the queue; `unqueue` takes it out. */
  queued(unqueue: () => void): void {
    this.#unqueue = unqueue;
  }

  sent(role: Role, id: number): void {
    this.#unqueue = undefined;
    this.#sent = { role, id };
  }

  /** The signal was aborted. */
  aborted(reason: unknown): void {
    this.#giveUp(new CallAbortedError(this.method, reason));
  }

  /** The answer (or the role's error): passed on unless the call already gave up. */
  readonly settle = (err: unknown, result?: unknown): void => {
    if (this.#settled) {
      debug('%s: late %s dropped (the call was aborted or timed out)', this.method, err ? 'error' : 'result');
      return;
    }
    this.#finish();
    this.#callback?.(err, result);
  };

  #giveUp(err: Error): void {
    if (this.#settled) return;
    this.#unqueue?.();
    if (this.#sent) this.#sent.role.forget(this.#sent.id);
    this.#finish();
    if (this.#callback) this.#callback(err);
    else debug('oneway %s dropped: %s', this.method, err.message);
  }

  #finish(): void {
    this.#settled = true;
    this.#unqueue = undefined;
    this.#sent = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#signal) unwatchSignal(this.#signal, this);
  }
}

/** Extra time the role gets past a call's own deadline (see CallControl.roleTimeout). */
const ROLE_TIMEOUT_MARGIN = 1000;

/**
 * The calls waiting on each AbortSignal, behind ONE abort listener per signal: a request-wide
 * signal shared by many calls must not pile up listeners (Node warns past 10).
 */
const signalWatchers = new WeakMap<AbortSignal, { calls: Set<CallControl>; onAbort: () => void }>();

function watchSignal(signal: AbortSignal, call: CallControl): void {
  let watcher = signalWatchers.get(signal);
  if (!watcher) {
    const calls = new Set<CallControl>();
    const onAbort = (): void => {
      signalWatchers.delete(signal);
      for (const c of calls) c.aborted(signal.reason);
    };
    watcher = { calls, onAbort };
    signalWatchers.set(signal, watcher);
    signal.addEventListener('abort', onAbort, { once: true });
  }
  watcher.calls.add(call);
}

function unwatchSignal(signal: AbortSignal, call: CallControl): void {
  const watcher = signalWatchers.get(signal);
  if (!watcher?.calls.delete(call) || watcher.calls.size > 0) return;
  signalWatchers.delete(signal);
  signal.removeEventListener('abort', watcher.onAbort);
}
