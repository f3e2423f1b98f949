// The DataClient: an ordinary client of the config server, written with no knowledge of
// cluster-share. It opens ONE TCP connection in its constructor. Wrapped by cluster(), it is
// constructed only in the process that leads; the other processes talk to it through the leader.
import net from 'node:net';
import { Base } from 'sdk-base';

export class ConfigClient extends Base {
  #socket;
  #buffer = '';
  #connected = false;
  #closing = false;
  #nextId = 1;
  /** request id → { resolve, reject } */
  #pending = new Map();
  /** key → listeners */
  #listeners = new Map();

  /** @param {{ host?: string, port: number }} options the config server's address */
  constructor(options) {
    super();
    const { host = '127.0.0.1', port } = options;
    this.#socket = net.connect({ host, port });
    this.#socket.setEncoding('utf8');
    this.#socket.once('connect', () => {
      this.#connected = true;
      this.ready(true);
    });
    this.#socket.on('data', chunk => this.#onData(chunk));
    this.#socket.on('error', err => {
      if (!this.#connected) this.ready(err);
      else if (!this.#closing) this.emit('error', err);
    });
    this.#socket.on('close', () => {
      for (const { reject } of this.#pending.values()) reject(new Error('config server connection closed'));
      this.#pending.clear();
    });
  }

  /** Calls `listener(value)` on every change of `reg.key`. One `watch` per key goes upstream. */
  subscribe(reg, listener) {
    const { key } = reg;
    let listeners = this.#listeners.get(key);
    if (!listeners) {
      this.#listeners.set(key, (listeners = []));
      this.#send({ op: 'watch', key });
    }
    listeners.push(listener);
  }

  /** The current value of `key`. */
  async getConfig(key) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#send({ op: 'get', key, id });
    });
  }

  /** Ends the connection to the config server. */
  async close() {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#socket.destroyed) return;
    await new Promise(resolve => {
      this.#socket.once('close', resolve);
      this.#socket.end();
    });
  }

  #send(message) {
    this.#socket.write(JSON.stringify(message) + '\n');
  }

  #onData(chunk) {
    this.#buffer += chunk;
    let end;
    while ((end = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 1);
      if (line.trim() !== '') this.#onMessage(JSON.parse(line));
    }
  }

  #onMessage(msg) {
    if (msg.op === 'change') {
      for (const listener of this.#listeners.get(msg.key) ?? []) listener(msg.value);
      return;
    }
    const pending = this.#pending.get(msg.id);
    if (!pending) return;
    this.#pending.delete(msg.id);
    if (msg.op === 'value') pending.resolve(msg.value);
    else pending.reject(new Error(msg.message ?? 'config server error'));
  }
}
