// What the failover and takeover members share: their DataClient, and a logger that keeps the
// library's last warnings for the parent's report instead of printing them.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';

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

/**
 * The IPC side of a forked member: exits if it was not forked with an IPC channel (naming the
 * script that forks it), and when the parent goes away (even SIGKILLed). Returns `now()` (ms,
 * comparable between the processes of one host) and `send()` (drops messages once disconnected).
 */
export function memberChannel(script, parent) {
  if (!process.send) {
    console.error(`${script} is forked by ${parent}; it needs an IPC channel`);
    process.exit(1);
  }
  // A parent that died while this module was still loading disconnected before the listener existed.
  process.on('disconnect', () => process.exit(0));
  if (!process.connected) process.exit(0);
  return {
    now: () => performance.timeOrigin + performance.now(),
    send: message => {
      if (process.connected) process.send(message);
    },
  };
}

/**
 * Reports to the parent when `client` is ready: `check()` (the member's role check), then
 * { type: 'ready', pid, impl, isLeader, at } and `start()`; or { type: 'ready-error', ... } with
 * `codeOf(err)` when it failed to start.
 */
export function reportReady(client, impl, { send, now }, codeOf, { check, start }) {
  client.ready().then(
    () => {
      check();
      send({ type: 'ready', pid: process.pid, impl, isLeader: client.isClusterClientLeader === true, at: now() });
      start();
    },
    err => {
      send({ type: 'ready-error', pid: process.pid, impl, code: codeOf(err), message: String(err && err.message) });
    },
  );
}
