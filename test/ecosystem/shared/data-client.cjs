'use strict';
// The DataClient of the ecosystem tests: an ordinary sdk-base client holding ONE TCP connection to
// the test's upstream (shared/upstream.mjs). It knows nothing about processes.
//
// It requires no package: the caller passes sdk-base's Base from ITS OWN node_modules. (A file in
// shared/ that required a package would resolve it from the repository root's node_modules, where
// the real cluster-client 3.x is a devDependency, and silently test the wrong thing.)
const net = require('node:net');
const { readLines } = require('./lines.cjs');

let constructed = 0;

/** How many DataClients this process has constructed (of every class made by defineDataClient). */
exports.constructedCount = () => constructed;

/**
 * Returns a DataClient class extending Base. `options` of the constructor:
 *   upstream  "host:port" of the upstream server (required)
 *   channel   a label the upstream records for this connection
 *   scope     optional, recorded too (the consumer library puts its "chroot" there)
 */
exports.defineDataClient = function defineDataClient(Base, className = 'EcoDataClient') {
  const DataClient = class extends Base {
    constructor(options) {
      // As zookeeper-cluster-client's DataClient: the options reach sdk-base, with our initMethod.
      super(Object.assign({}, options, { initMethod: '_init' }));
      constructed++;
      this.instance = `${process.pid}:${constructed}`;
      this._listeners = new Map(); // key → Set<listener>
      this._pending = new Map(); // request id → { resolve, reject }
      this._nextId = 1;
      this._socket = null;
    }

    async _init() {
      const options = this.options;
      if (!options.upstream) throw new Error(`${className}: options.upstream is required`);
      const [host, port] = options.upstream.split(':');
      const socket = net.connect({ host, port: Number(port) });
      this._socket = socket;
      readLines(socket, line => this._onLine(line));
      socket.on('close', () => {
        for (const { reject } of this._pending.values()) reject(new Error('upstream connection closed'));
        this._pending.clear();
      });
      await new Promise((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      socket.on('error', err => this.emit('error', err));
      this._send({ t: 'hello', channel: options.channel, scope: options.scope, pid: process.pid, instance: this.instance });
    }

    _onLine(line) {
      const msg = JSON.parse(line);
      if (msg.t === 'res') {
        const pending = this._pending.get(msg.id);
        this._pending.delete(msg.id);
        if (pending) pending.resolve({ value: msg.value, conn: msg.conn, leaderPid: process.pid, instance: this.instance });
      } else if (msg.t === 'push') {
        for (const listener of this._listeners.get(msg.key) ?? []) listener(msg.value);
      }
    }

    _send(msg) {
      this._socket.write(JSON.stringify(msg) + '\n');
    }

    /** A round trip to the upstream. Resolves with who answered: the leader's pid and DataClient. */
    async echo(value) {
      const id = this._nextId++;
      return new Promise((resolve, reject) => {
        this._pending.set(id, { resolve, reject });
        this._send({ t: 'req', id, value });
      });
    }

    /** Callback style, as many DataClients are (delegated explicitly). */
    echoCallback(value, callback) {
      this.echo(value).then(result => callback(null, result), callback);
    }

    subscribe(reg, listener) {
      let set = this._listeners.get(reg.key);
      if (!set) {
        this._listeners.set(reg.key, (set = new Set()));
        this._send({ t: 'sub', key: reg.key });
      }
      set.add(listener);
    }

    unSubscribe(reg, listener) {
      const set = this._listeners.get(reg.key);
      if (!set) return;
      if (listener) set.delete(listener);
      else set.clear();
      if (set.size === 0) {
        this._listeners.delete(reg.key);
        this._send({ t: 'unsub', key: reg.key });
      }
    }

    publish(reg) {
      this._send({ t: 'pub', key: reg.key, value: reg.value });
    }

    async close() {
      const socket = this._socket;
      if (!socket || socket.destroyed) return;
      await new Promise(resolve => {
        socket.once('close', resolve);
        socket.end();
      });
    }
  };
  Object.defineProperty(DataClient, 'name', { value: className });
  return DataClient;
};
