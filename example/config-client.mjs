// The DataClient: an ordinary client of the config server, written with no knowledge of
// cluster-share. It opens ONE TCP connection in its constructor. Wrapped by cluster(), it is
// constructed only in the process that leads; the other processes talk to it through the leader.
// The protocol itself (requests, watches, pushed changes) is ConfigConnection's, in
// config-protocol.mjs.
import net from 'node:net';
import { Base } from 'sdk-base';
import { ConfigConnection } from './config-protocol.mjs';

export class ConfigClient extends Base {
  #socket;
  #connection;
  #connected = false;
  #closing = false;

  /** @param {{ host?: string, port: number }} options the config server's address */
  constructor(options) {
    super();
    const { host = '127.0.0.1', port } = options;
    this.#socket = net.connect({ host, port });
    this.#connection = new ConfigConnection(this.#socket);
    this.#socket.once('connect', () => {
      this.#connected = true;
      this.ready(true);
    });
    this.#socket.on('error', err => {
      if (!this.#connected) this.ready(err);
      else if (!this.#closing) this.emit('error', err);
    });
  }

  /** Calls `listener(value)` on every change of `reg.key`. One `watch` per key goes upstream. */
  subscribe(reg, listener) {
    this.#connection.subscribe(reg.key, listener);
  }

  /** The current value of `key`. */
  async getConfig(key) {
    return this.#connection.getConfig(key);
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
}
