// The DataClient of the shared-store example: an in-memory key/value store, a Map. Like the
// "shared memory Manager" that a node:cluster master keeps for its workers, except that nobody
// writes a message protocol for it: wrapped by cluster(), it is constructed only in the leader,
// and every other process reaches the same Map through cluster-share.
//
// Every method runs in the leader's event loop, one call after the other, so `incr` from many
// processes at once never loses an update: the leader serializes them.
import { threadId } from 'node:worker_threads';
import { Base } from 'sdk-base';

export class MemoryStore extends Base {
  /** How many stores this process has constructed (the leader's process: 1, the others: 0). */
  static constructed = 0;

  #data;
  /** key → Set of listeners */
  #watchers = new Map();

  /** @param {{ initial?: Record<string, unknown> }} [options] */
  constructor(options = {}) {
    super();
    this.#data = new Map(Object.entries(options.initial ?? {}));
    MemoryStore.constructed++;
    this.ready(true); // nothing to connect to
  }

  /** Where this Map lives. */
  async where() {
    return { pid: process.pid, threadId };
  }

  /** The value of `key`, or undefined. */
  async get(key) {
    return this.#data.get(key);
  }

  /** Sets `key` to `value`; returns 'OK'. */
  async set(key, value) {
    this.#data.set(key, value);
    this.#notify(key, { op: 'set', key, value });
    return 'OK';
  }

  /** Removes `key`; returns whether it was there. */
  async delete(key) {
    const existed = this.#data.delete(key);
    if (existed) this.#notify(key, { op: 'delete', key });
    return existed;
  }

  /**
   * Adds `by` to the number at `key` (0 if absent); returns the new value.
   *
   * `by` is deliberately not optional (no `by = 1`): the leader calls a DataClient method with
   * the caller's arguments plus a trailing callback (as cluster-client 3.x does, so that
   * callback-style methods work), and a parameter left out by the caller would receive it.
   */
  async incr(key, by) {
    const current = this.#data.get(key) ?? 0;
    if (typeof current !== 'number') {
      throw Object.assign(new TypeError(`${key} holds a ${typeof current}, not a number`), { code: 'E_NOT_A_NUMBER' });
    }
    const value = current + by;
    this.#data.set(key, value);
    this.#notify(key, { op: 'incr', key, value });
    return value;
  }

  /** Every key. */
  async keys() {
    return [...this.#data.keys()];
  }

  /** Calls `listener(change)` on every change of `reg.key`: `{ op: 'set' | 'delete' | 'incr', key, value? }`. */
  subscribe(reg, listener) {
    let listeners = this.#watchers.get(reg.key);
    if (!listeners) this.#watchers.set(reg.key, (listeners = new Set()));
    listeners.add(listener);
  }

  /** Stops calling `listener` (every listener of `reg.key` when none is given). */
  unSubscribe(reg, listener) {
    if (listener) this.#watchers.get(reg.key)?.delete(listener);
    else this.#watchers.delete(reg.key);
  }

  async close() {
    this.#watchers.clear();
  }

  #notify(key, change) {
    for (const listener of this.#watchers.get(key) ?? []) listener(change);
  }
}
