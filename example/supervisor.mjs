// The parent's side of every example, the plumbing that is not about cluster-share: start
// processes or threads ("members"), collect what they report, wait for it with a deadline,
// close them in order, and end with a verdict.
//
// Members report with messages `{ type, ... }` (process.send, or postMessage for threads).
// `{ type: 'error', message }` fails the example. Every wait is on a message or an exit, bounded
// by a timeout; nothing sleeps. An example ends with `finish(...)`, which prints a ✔ line and a
// machine-readable `RESULT {json}` line (the test parses it), or with `fail(...)`, which prints
// ✘, kills every member, prints `RESULT {"ok":false,...}` and exits 1.
import { EventEmitter } from 'node:events';
import net from 'node:net';

/** Every member of every group, so that `fail` can kill them all. */
const everyone = new Set();

/** Prints what went wrong, kills every member still running, and exits 1. */
export function fail(message) {
  console.error(`✘ ${message}`);
  for (const m of everyone) if (m.exit === undefined) m.kill();
  result({ ok: false, error: message });
  process.exit(1);
}

/** Prints the machine-readable line: `RESULT` and one line of JSON. */
export function result(value) {
  console.log(`RESULT ${JSON.stringify(value)}`);
}

/**
 * The verdict of a successful run: the ✔ line, then the RESULT line with `ok: true`. The example
 * should then exit by itself (nothing left open); if a handle was leaked, it fails after 5 s.
 */
export function finish(summary, values) {
  console.log(`✔ ${summary}`);
  result({ ok: true, ...values });
  setTimeout(() => fail('the example did not exit by itself (a handle was left open)'), 5_000).unref();
}

/** A bound on the whole run, in case some step hangs outside the waits below. */
export function deadline(ms) {
  setTimeout(() => fail(`the example did not finish within ${ms / 1000} s`), ms).unref();
}

/** A free loopback port: listen on port 0, read the port, close. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** One started process or thread, and everything it has reported. */
class Member {
  /** Messages received, in order. */
  messages = [];
  /** `{ code, signal }` once it has exited. */
  exit = undefined;
  /** Set when we asked it to close: an exit is then expected. */
  closing = false;

  constructor({ name, pid, threadId, send, kill }) {
    this.name = name;
    this.pid = pid;
    this.threadId = threadId;
    this.send = send;
    this.kill = kill;
  }

  /** The last message of `type` received, or undefined. */
  last(type) {
    return this.messages.findLast(m => m.type === type);
  }

  /** Every message of `type` received, in order. */
  all(type) {
    return this.messages.filter(m => m.type === type);
  }
}

/** The members of one example, and the waits on what they report. */
export class Group {
  members = [];
  #updates = new EventEmitter();
  #nextId = 1;

  /**
   * Tracks a member. `emitter` emits 'message' and 'exit' (a ChildProcess, a node:cluster Worker or
   * a worker_threads Worker). `send(message)` and `kill()` reach it.
   */
  add({ name, pid, threadId, emitter, send, kill }) {
    const member = new Member({ name, pid, threadId, send, kill });
    emitter.on('message', message => {
      member.messages.push(message);
      if (message?.type === 'error') fail(`${member.name} failed: ${message.message}`);
      this.#updates.emit('update');
    });
    emitter.on('error', err => fail(`${member.name}: ${err.message}`));
    emitter.on('exit', (code, signal = null) => {
      member.exit = { code, signal };
      if (!member.closing) fail(`${member.name} exited unexpectedly (code ${code}, signal ${signal})`);
      this.#updates.emit('update');
    });
    this.members.push(member);
    everyone.add(member);
    return member;
  }

  /** Resolves once `done()` is true, re-checked on every message or exit; else fails after `timeout`. */
  waitUntil(done, timeout, onTimeout) {
    return new Promise(resolve => {
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.#updates.off('update', check);
        resolve();
      };
      const timer = setTimeout(() => fail(onTimeout()), timeout);
      this.#updates.on('update', check);
      check();
    });
  }

  /** Waits until `test(member)` holds for each of `members`; the timeout names those that lag. */
  waitEach(members, test, timeout, what) {
    return this.waitUntil(
      () => members.every(test),
      timeout,
      () => `within ${timeout / 1000} s these did not ${what}: ${members.filter(m => !test(m)).map(m => m.name).join(', ')}`,
    );
  }

  /**
   * Sends `{ ...command, id }` to `member` and resolves with the `value` of its answer
   * `{ type: 'reply', id, value }` (the member answers an error with `{ type: 'error' }`).
   */
  async ask(member, command, timeout = 10_000) {
    const id = this.#nextId++;
    member.send({ ...command, id });
    const answered = () => member.messages.find(m => m.type === 'reply' && m.id === id);
    await this.waitUntil(answered, timeout, () => `${member.name} did not answer ${JSON.stringify(command)} within ${timeout / 1000} s`);
    return answered().value;
  }

  /** Sends `{ cmd: 'close' }` to `members`, waits until they exited, and checks they exited with code 0. */
  async close(members, timeout = 10_000) {
    for (const m of members) {
      m.closing = true;
      m.send({ cmd: 'close' });
    }
    await this.waitEach(members, m => m.exit !== undefined, timeout, 'exit after close');
    const bad = members.filter(m => m.exit.code !== 0);
    if (bad.length > 0) fail(`these exited with an error: ${bad.map(m => `${m.name} (code ${m.exit.code}, signal ${m.exit.signal})`).join(', ')}`);
  }
}
