'use strict';
// The DataClient: ONE connection to the registry ("host:port/chroot"), newline-delimited JSON.
const net = require('node:net');
const { Base } = require('sdk-base');

class DataClient extends Base {
  constructor(options) {
    super(Object.assign(options, { initMethod: '_init' }));
    DataClient.constructed++;
    this.instance = `${process.pid}:${DataClient.constructed}`;
    const [address, chroot = ''] = this.options.connectionString.split('/');
    const [host, port] = address.split(':');
    this._target = { host, port: Number(port) };
    this._chroot = `/${chroot}`;
    this._pending = new Map();
    this._nextId = 1;
    this._watchers = new Map(); // path -> Set<listener>
    this._connected = false;
  }

  async _init() {
    const socket = (this._socket = net.connect(this._target));
    socket.setEncoding('utf8');
    let buffered = '';
    socket.on('data', chunk => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line) this._onLine(JSON.parse(line));
      }
    });
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.on('error', err => this.emit('error', err));
    socket.on('close', () => {
      for (const { callback } of this._pending.values()) callback(new Error('registry connection closed'));
      this._pending.clear();
    });
    this._send({ t: 'hello', channel: 'registry', scope: this._chroot, pid: process.pid, instance: this.instance });
    this._connected = true;
    this.emit('registry-client:event', this._connectedInfo());
  }

  _connectedInfo() {
    return { name: 'connected', sessionId: this.instance, pid: process.pid };
  }

  _onLine(msg) {
    if (msg.t === 'res') {
      const pending = this._pending.get(msg.id);
      this._pending.delete(msg.id);
      if (pending) pending.callback(null, { data: msg.value, conn: msg.conn, instance: this.instance, leaderPid: process.pid });
    } else if (msg.t === 'push') {
      for (const listener of this._watchers.get(msg.key) ?? []) listener(msg.value);
    }
  }

  _send(msg) {
    this._socket.write(JSON.stringify(msg) + '\n');
  }

  // cluster-client APIs
  subscribe(reg, listener) {
    if (reg.event) {
      this.on(reg.event, listener);
      // a subscriber that comes after the connection still hears of it (as zookeeper's does)
      if (this._connected && reg.event === 'registry-client:event') listener(this._connectedInfo());
      return;
    }
    const key = this._chroot + reg.path;
    let set = this._watchers.get(key);
    if (!set) {
      this._watchers.set(key, (set = new Set()));
      this._send({ t: 'sub', key });
    }
    set.add(listener);
  }

  unSubscribe(reg, listener) {
    if (reg.event) {
      if (listener) this.removeListener(reg.event, listener);
      else this.removeAllListeners(reg.event);
      return;
    }
    const key = this._chroot + reg.path;
    const set = this._watchers.get(key);
    if (!set) return;
    if (listener) set.delete(listener);
    else set.clear();
    if (!set.size) {
      this._watchers.delete(key);
      this._send({ t: 'unsub', key });
    }
  }

  publish(reg) {
    this._send({ t: 'pub', key: this._chroot + reg.path, value: reg.value });
  }

  connect() {
    // already connected in _init; kept as the oneway delegate zookeeper-cluster-client has
  }

  // callback style, with the callback the leader appends
  invokeWithoutWatcher(method, args, callback) {
    if (method !== 'getData') return callback(new Error(`unknown method ${method}`));
    const id = this._nextId++;
    this._pending.set(id, { callback });
    this._send({ t: 'req', id, value: this._chroot + args[0] });
  }

  async close() {
    const socket = this._socket;
    if (!socket || socket.destroyed) return;
    await new Promise(resolve => {
      socket.once('close', resolve);
      socket.end();
    });
  }
}
DataClient.constructed = 0;

module.exports = DataClient;
