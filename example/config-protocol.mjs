// The config server's wire protocol, the one piece both ends share: newline-delimited JSON over
// TCP, one message per line (the messages are listed in config-server.mjs). The benchmark's
// config server fixture and its ConfigClient (benchmark/lib/) speak it too, with these helpers.

/** Writes `message` to `socket` as one line (nothing once the socket is destroyed). */
export function sendLine(socket, message) {
  if (!socket.destroyed) socket.write(JSON.stringify(message) + '\n');
}

/** Reads `socket` as UTF-8 and calls `onLine(line)` for every complete line that is not blank. */
export function readLines(socket, onLine) {
  socket.setEncoding('utf8');
  let buffer = '';
  socket.on('data', chunk => {
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      if (line.trim() !== '') onLine(line);
    }
  });
}

/**
 * The client end of one connection to the config server: `getConfig` asks for a value and
 * resolves with the answer to its id; `subscribe` sends one `watch` per key and calls the key's
 * listeners with every pushed change. Unanswered requests reject when the connection closes.
 * Connecting, readiness and errors are left to the client class that owns the socket.
 */
export class ConfigConnection {
  #socket;
  #nextId = 1;
  /** request id → { resolve, reject } */
  #pending = new Map();
  /** key → listeners */
  #listeners = new Map();

  /** @param {import('node:net').Socket} socket connected or connecting to the config server */
  constructor(socket) {
    this.#socket = socket;
    readLines(socket, line => this.#onMessage(JSON.parse(line)));
    socket.on('close', () => {
      for (const { reject } of this.#pending.values()) reject(new Error('config server connection closed'));
      this.#pending.clear();
    });
  }

  /** Calls `listener(value)` on every change of `key`. One `watch` per key goes upstream. */
  subscribe(key, listener) {
    let listeners = this.#listeners.get(key);
    if (!listeners) {
      this.#listeners.set(key, (listeners = []));
      sendLine(this.#socket, { op: 'watch', key });
    }
    listeners.push(listener);
  }

  /** Stops calling `listener` (every listener of `key` when none is given); the watch stays. */
  unSubscribe(key, listener) {
    const listeners = this.#listeners.get(key) ?? [];
    this.#listeners.set(key, listener ? listeners.filter(l => l !== listener) : []);
  }

  /** The current value of `key`. */
  getConfig(key) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      sendLine(this.#socket, { op: 'get', key, id });
    });
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
