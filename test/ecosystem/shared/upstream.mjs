// The upstream service of the ecosystem tests: a TCP server on 127.0.0.1 that a DataClient
// (shared/data-client.cjs) connects to. It records every connection, so a test can prove that
// N processes share ONE upstream connection per DataClient.
//
// Newline-delimited JSON, one message per line:
//   client → server  {"t":"hello","channel":"...","pid":123,"instance":"..."}   first line of a connection
//   client → server  {"t":"req","id":1,"value":...}      answered with {"t":"res","id":1,"value":...,"conn":N}
//   client → server  {"t":"sub","key":"k"}               later pushes of k go to this connection;
//                                                         the current value of k (if any) at once
//   client → server  {"t":"unsub","key":"k"}
//   client → server  {"t":"pub","key":"k","value":...}   recorded (publications)
//   server → client  {"t":"push","key":"k","value":...}
//
// Only node: built-ins, so every sub-project can import it whatever it installed.
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { readLines } from './lines.cjs';

export class Upstream extends EventEmitter {
  #server = net.createServer(socket => this.#accept(socket));
  #sockets = new Map(); // conn id → socket
  #values = new Map(); // key → last pushed value
  #nextId = 1;
  /** Every connection ever accepted: { id, open, hello, subs: Set<key>, pubs: [{key, value}], requests }. */
  connections = [];

  /** Listens on an ephemeral port of 127.0.0.1. */
  async start() {
    await new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', resolve);
    });
    this.port = this.#server.address().port;
    this.address = `127.0.0.1:${this.port}`;
    return this;
  }

  #accept(socket) {
    const conn = { id: this.#nextId++, open: true, hello: null, subs: new Set(), pubs: [], requests: 0 };
    this.connections.push(conn);
    this.#sockets.set(conn.id, socket);
    readLines(socket, line => this.#handle(conn, socket, line));
    socket.on('error', () => {}); // a SIGKILLed leader resets its connection: expected
    socket.on('close', () => {
      conn.open = false;
      this.#sockets.delete(conn.id);
      this.emit('change');
    });
    this.emit('change');
  }

  #handle(conn, socket, line) {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      conn.garbage = (conn.garbage ?? 0) + 1;
      return;
    }
    switch (msg.t) {
      case 'hello':
        conn.hello = { channel: msg.channel, pid: msg.pid, instance: msg.instance, scope: msg.scope };
        break;
      case 'req':
        conn.requests++;
        write(socket, { t: 'res', id: msg.id, value: msg.value, conn: conn.id });
        break;
      case 'sub':
        conn.subs.add(msg.key);
        if (this.#values.has(msg.key)) write(socket, { t: 'push', key: msg.key, value: this.#values.get(msg.key) });
        break;
      case 'unsub':
        conn.subs.delete(msg.key);
        break;
      case 'pub':
        conn.pubs.push({ key: msg.key, value: msg.value });
        break;
      default:
        conn.garbage = (conn.garbage ?? 0) + 1;
    }
    this.emit('change');
  }

  /** Sets key to value and pushes it to every open connection subscribed to key; returns how many. */
  push(key, value) {
    this.#values.set(key, value);
    let told = 0;
    for (const conn of this.connections) {
      if (!conn.open || !conn.subs.has(key)) continue;
      write(this.#sockets.get(conn.id), { t: 'push', key, value });
      told++;
    }
    return told;
  }

  /** Connections (ever accepted, or only the open ones) whose hello named this channel. */
  byChannel(channel, { openOnly = false } = {}) {
    return this.connections.filter(c => c.hello?.channel === channel && (!openOnly || c.open));
  }

  open() {
    return this.connections.filter(c => c.open);
  }

  /** A short description for assertion messages. */
  describe() {
    return this.connections
      .map(c => `#${c.id} ${c.open ? 'open' : 'closed'} ${JSON.stringify(c.hello)} subs=${[...c.subs]} pubs=${c.pubs.length}`)
      .join('\n');
  }

  async close() {
    for (const socket of this.#sockets.values()) socket.destroy();
    await new Promise(resolve => this.#server.close(() => resolve()));
  }
}

function write(socket, msg) {
  if (socket && !socket.destroyed) socket.write(JSON.stringify(msg) + '\n');
}
