// The DataClients of the benchmarks: the same classes for cluster-share, cluster-client 3.7.0,
// the bare socket floor and (ConfigClient) a process that uses its own upstream connection.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { ConfigConnection } from '../../example/config-protocol.mjs';

/**
 * BenchClient: `async echo(v)` returns its argument; `hit()` (delegated as invokeOneway) counts
 * calls; `subscribe(reg, listener)` keeps the listener, and the benchmark harness of the leader's
 * process pushes values to it with `BenchClient.instance.push(key, value)`.
 */
export class BenchClient extends EventEmitter {
  /** The instance constructed in this process (only the leader constructs one). */
  static instance = null;

  constructor(options = {}) {
    super();
    this.options = options;
    this.hits = 0;
    this.subscribers = new Map(); // key → [listener]
    BenchClient.instance = this;
  }

  // cluster-share and cluster-client 3.x wait for ready(callback) when the class has one.
  ready(callback) {
    setImmediate(callback);
  }

  async echo(value) {
    return value;
  }

  hit() {
    this.hits++;
  }

  subscribe(reg, listener) {
    let list = this.subscribers.get(reg.key);
    if (!list) this.subscribers.set(reg.key, (list = []));
    list.push(listener);
  }

  unSubscribe(reg, listener) {
    const list = this.subscribers.get(reg.key) ?? [];
    this.subscribers.set(reg.key, listener ? list.filter(l => l !== listener) : []);
  }

  /** Harness only (not delegated): delivers `value` to the subscribers of `key`. */
  push(key, value) {
    const list = this.subscribers.get(key);
    if (!list) return 0;
    for (const listener of list) listener(value);
    return list.length;
  }

  async close() {}
}

/**
 * ConfigClient: a client of the config server fixture (lib/config-server.mjs). It opens ONE TCP
 * connection in its constructor and is ready when connected. The protocol (get, watch, pushed
 * changes) is the example's: ConfigConnection from example/config-protocol.mjs.
 */
export class ConfigClient extends EventEmitter {
  #socket;
  #connection;
  #readyWaiters = [];
  #readyState = null; // null: starting; true; or an Error

  constructor(options) {
    super();
    this.options = options;
    this.#socket = net.connect({ host: '127.0.0.1', port: options.port });
    this.#socket.setNoDelay(true);
    this.#connection = new ConfigConnection(this.#socket);
    this.#socket.once('connect', () => this.#settle(true));
    this.#socket.on('error', err => {
      if (this.#readyState === null) this.#settle(err);
    });
  }

  ready(callback) {
    if (this.#readyState === null) this.#readyWaiters.push(callback);
    else setImmediate(callback, this.#readyState === true ? undefined : this.#readyState);
  }

  #settle(state) {
    this.#readyState = state;
    for (const callback of this.#readyWaiters.splice(0)) callback(state === true ? undefined : state);
  }

  /** One `watch` request goes upstream per key; the server answers with the current value. */
  subscribe(reg, listener) {
    this.#connection.subscribe(reg.key, listener);
  }

  unSubscribe(reg, listener) {
    this.#connection.unSubscribe(reg.key, listener);
  }

  async getConfig(key) {
    return this.#connection.getConfig(key);
  }

  async close() {
    this.#socket.end();
  }
}
