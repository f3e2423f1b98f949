// What the failover and takeover members share: their DataClient, and a logger that keeps the
// library's last warnings for the parent's report instead of printing them.
import { EventEmitter } from 'node:events';

/** The shared DataClient: the same class for both implementations. */
export class EchoClient extends EventEmitter {
  constructor(options = {}) {
    super();
    this.options = options;
  }
  // cluster-client 3.x and cluster-share both wait for ready(callback) when the class has it.
  ready(callback) {
    setImmediate(callback);
  }
  async echo(value) {
    return value;
  }
  async pid() {
    return process.pid;
  }
}

/** A logger keeping the last 50 warnings and errors in `logs`, stamped with `now()`. */
export function keptLogger(now) {
  const logs = [];
  const log = level => (...args) => {
    logs.push({ at: now(), level, message: args.map(a => (a instanceof Error ? `${a.name}: ${a.message}` : String(a))).join(' ') });
    if (logs.length > 50) logs.shift();
  };
  return { logs, logger: { info() {}, debug() {}, warn: log('warn'), error: log('error') } };
}
