/**
 * Hostile peers on the leader's port, with real processes and real sockets: a leader process
 * (frameTimeout 500 ms so the slow attacks end quickly) serves 3 follower processes that call
 * `echo` in a loop, while this test process attacks the port with random bytes, an HTTP request,
 * TLS ClientHellos, silent connections, an invoke before registration, headers declaring 2 GiB,
 * half packets, a byte-at-a-time sender and 1,000 connections opened and dropped.
 *
 * Asserted: every hostile connection is closed by the leader (the test never closes them), for
 * the reason the leader logs; the followers' loops have zero failed calls throughout and keep
 * being served; the leader process is alive, answers, accepts a new follower, and its count of
 * open TCP sockets (process.getActiveResourcesInfo() in the leader, via the member's
 * `resources` command) returns to one per real follower.
 *
 * Every wait is on an event or an IPC answer, bounded by a generous deadline; timings are
 * reported with t.diagnostic.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { before, describe, test } from 'node:test';
import { encodePacket, encodeInvokeArgs, HEADER_LENGTH } from '../src/protocol/packet.js';
import { serializeJsonCodec } from '../src/protocol/codec.js';
import { failureCount, freePort, type Member, served, startLoop, stopLoop, trackMembers } from './helpers/group.js';
import { mulberry32 } from './helpers/random.js';
import { type Ending, RawPeer } from './helpers/raw-peer.js';
import { within } from './helpers/within.js';

const FRAME_TIMEOUT = 500;
/** The channel the members create (the DataClient class name). */
const CHANNEL = 'FixtureClient';
/** Generous: the suite runs on loaded 2-core machines. */
const DEADLINE = 20_000;

const { live, spawn } = trackMembers();

/** A header with the given fields (id 1, timeout 1000) and nothing after it. */
function header(connLength: number, dataLength: number, kind = 0): Buffer {
  const h = Buffer.alloc(HEADER_LENGTH);
  h[0] = 1;
  h[1] = kind;
  h.writeUInt32BE(1, 8);
  h.writeInt32BE(1000, 12);
  h.writeInt32BE(connLength, 16);
  h.writeInt32BE(dataLength, 20);
  return h;
}

/** The first bytes of a TLS 1.2 ClientHello record, built by hand (no extensions). */
function clientHello(): Buffer {
  const random = Buffer.alloc(32, 0xab);
  const body = Buffer.concat([
    Buffer.from([0x03, 0x03]), // client_version TLS 1.2
    random,
    Buffer.from([0x00]), // session id length
    Buffer.from([0x00, 0x04, 0xc0, 0x2f, 0x00, 0x9c]), // 2 cipher suites
    Buffer.from([0x01, 0x00]), // compression methods: null
    Buffer.from([0x00, 0x00]), // extensions length
  ]);
  const handshake = Buffer.concat([Buffer.from([0x01, 0x00, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x01, (handshake.length >> 8) & 0xff, handshake.length & 0xff]), handshake]);
}

describe('hostile peers on the leader port', () => {
  let port = 0;
  let leader: Member;
  let followers: Member[] = [];
  /** TCP sockets the leader holds with only the real followers connected. */
  let baselineSockets = 0;
  let rssBefore = 0;

  /** Open TCP sockets of the leader process (accepted connections). */
  const leaderSockets = async (): Promise<number> => ((await leader.resources()).handles.TCPSocketWrap ?? 0);

  /**
   * Waits until the leader holds `expected` TCP sockets. The leader closes its side of a dropped
   * connection a little after ours closes, and nothing announces it: this asks again (an IPC
   * round trip, 20 ms apart) until it matches or the deadline passes.
   */
  async function leaderSocketsBecome(expected: number, what: string): Promise<number> {
    const started = performance.now();
    let last = -1;
    while (performance.now() - started < DEADLINE) {
      last = await leaderSockets();
      if (last === expected) return performance.now() - started;
      await new Promise(resolve => setTimeout(resolve, 20));
    }
    assert.fail(`${what}: the leader holds ${last} TCP sockets, expected ${expected}`);
  }

  /** Every follower's loop completed a call started after now. */
  async function followersServed(what: string): Promise<void> {
    await within(Promise.all(followers.map(served)), DEADLINE, () => `${what}: the followers' loops are served`);
  }

  /** The leader's warnings logged from message index `from` on. */
  const leaderWarnings = (from: number): string[] => leader.messages.slice(from).filter(m => m.event === 'log' && m.level === 'warn').map(m => String(m.message));

  /** Waits for `count` leader warnings matching `pattern` from message index `from`. */
  async function leaderWarned(pattern: RegExp, from: number, count = 1): Promise<string[]> {
    let seen = 0;
    await within(leader.waitFor(m => m.event === 'log' && m.level === 'warn' && pattern.test(String(m.message)) && ++seen >= count, from), DEADLINE, () => `leader warning ${pattern} x${count}`);
    return leaderWarnings(from).filter(line => pattern.test(line));
  }

  /** Connects, lets `attack` do its thing, and waits until the leader closes the connection. */
  async function attack(what: string, act: (peer: RawPeer) => void | Promise<void>): Promise<Ending> {
    const peer = await RawPeer.connect(port);
    await act(peer);
    return within(peer.ended, DEADLINE, () => `${what}: the leader closes the connection`);
  }

  before(async () => {
    port = await freePort();
    leader = spawn({ port, isLeader: true, frameTimeout: FRAME_TIMEOUT });
    assert.equal(await within(leader.ready(), DEADLINE, () => 'leader ready'), true);
    // responseTimeout 15 s: a call fails only if something is really wrong, not because the machine is slow.
    followers = [0, 1, 2].map(() => spawn({ port, isLeader: false, responseTimeout: 15_000 }));
    const roles = await within(Promise.all(followers.map(f => f.ready())), DEADLINE, () => 'followers ready');
    assert.deepEqual(roles, [false, false, false]);
    await Promise.all(followers.map(startLoop));
    await followersServed('start');
    baselineSockets = await leaderSockets();
    assert.equal(baselineSockets, 3, 'the leader holds one TCP socket per follower before the attack');
    rssBefore = (await leader.resources()).rss;
  });

  test('random bytes (30 connections, seeded, random chunks): each is closed by the leader, nothing is answered', { timeout: 60_000 }, async t => {
    const from = leader.messages.length;
    const rand = mulberry32(0x6057113);
    const endings = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        attack(`random bytes #${i}`, peer => {
          let left = 1 + Math.floor(rand() * 4000);
          while (left > 0) {
            const n = Math.min(left, 1 + Math.floor(rand() * 300));
            const chunk = Buffer.alloc(n);
            for (let j = 0; j < n; j++) chunk[j] = Math.floor(rand() * 256);
            if (i === 0 && left === n) chunk[0] = 0x00; // at least one starts with a bad version byte for sure
            peer.write(chunk);
            left -= n;
          }
        }),
      ),
    );
    for (const [i, e] of endings.entries()) assert.equal(e.bytesReceived, 0, `random bytes #${i}: the leader answered ${e.bytesReceived} bytes`);
    const warnings = await leaderWarned(/protocol error|did not register/, from, 30);
    t.diagnostic(`closed after (ms): ${endings.map(e => e.afterMs.toFixed(0)).join(', ')}; reasons: ${JSON.stringify([...new Set(warnings.map(w => w.replace(/#\d+/, '#N').replace(/\d+/g, 'n')))])}`);
    await followersServed('after random bytes');
  });

  test('an HTTP GET request is closed at once (bad version byte), unanswered', { timeout: 60_000 }, async t => {
    const from = leader.messages.length;
    const ending = await attack('HTTP GET', peer => {
      peer.write(Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: hostile-test\r\nAccept: */*\r\n\r\n`));
    });
    assert.equal(ending.bytesReceived, 0);
    const [warning] = await leaderWarned(/unsupported protocol version 71/, from); // 'G'
    t.diagnostic(`closed after ${ending.afterMs.toFixed(0)} ms: ${warning}`);
    await followersServed('after HTTP');
  });

  test('a hand-built TLS ClientHello record (0x16 0x03 0x01 ...) is closed at once, unanswered', { timeout: 60_000 }, async t => {
    const from = leader.messages.length;
    const ending = await attack('TLS ClientHello bytes', peer => {
      peer.write(clientHello());
    });
    assert.equal(ending.bytesReceived, 0);
    const [warning] = await leaderWarned(/unsupported protocol version 22/, from); // 0x16
    t.diagnostic(`closed after ${ending.afterMs.toFixed(0)} ms: ${warning}`);
  });

  test('a real TLS client (node:tls) fails its handshake: the leader closes the connection', { timeout: 60_000 }, async t => {
    const from = leader.messages.length;
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, servername: 'localhost' });
    const errors: Error[] = [];
    socket.on('error', err => errors.push(err));
    let secure = false;
    socket.on('secureConnect', () => {
      secure = true;
    });
    await within(new Promise<void>(resolve => socket.once('close', () => resolve())), DEADLINE, () => 'TLS client: the leader closes the connection');
    assert.equal(secure, false, 'no TLS session was established');
    assert.ok(errors.length > 0, 'the TLS client reports the failed handshake');
    const [warning] = await leaderWarned(/unsupported protocol version 22/, from);
    t.diagnostic(`TLS client error: ${errors[0]?.message}; leader: ${warning}`);
    await followersServed('after TLS');
  });

  test(`a connection that sends nothing is closed after frameTimeout (${FRAME_TIMEOUT} ms)`, { timeout: 60_000 }, async t => {
    const from = leader.messages.length;
    const ending = await attack('silent connection', () => undefined);
    assert.equal(ending.bytesReceived, 0);
    // Not at once: it was given frameTimeout to register. (The leader's timer starts at accept,
    // a little before our 'connect' event, hence the margin.)
    assert.ok(ending.afterMs >= FRAME_TIMEOUT / 2, `closed after ${ending.afterMs.toFixed(0)} ms, before frameTimeout`);
    const [warning] = await leaderWarned(/did not register within 500ms \(frameTimeout\)/, from);
    t.diagnostic(`closed after ${ending.afterMs.toFixed(0)} ms: ${warning}`);
  });

  test('an invoke before register_channel is not run: the connection is closed, unanswered', { timeout: 60_000 }, async t => {
    const from = leader.messages.length;
    const ending = await attack('invoke before register', peer => {
      peer.send({ type: 'invoke', method: 'echo', argLength: 1, oneway: false }, encodeInvokeArgs(['not run'], serializeJsonCodec));
    });
    assert.equal(ending.bytesReceived, 0, 'no invoke_result');
    const [warning] = await leaderWarned(/sent "invoke" before register_channel; closed/, from);
    t.diagnostic(`closed after ${ending.afterMs.toFixed(0)} ms: ${warning}`);
  });

  test('a heartbeat before registration is answered, then the connection must still register within frameTimeout', { timeout: 60_000 }, async t => {
    const from = leader.messages.length;
    const peer = await RawPeer.connect(port);
    await within(peer.roundTrip(), DEADLINE, () => 'heartbeat before registration answered');
    const ending = await within(peer.ended, DEADLINE, () => 'the unregistered connection is closed');
    await leaderWarned(/did not register within 500ms/, from);
    t.diagnostic(`answered, then closed after ${ending.afterMs.toFixed(0)} ms`);
  });

  test('headers declaring 2 GiB (body, connection object) or negative lengths, followed by nothing: closed at once', { timeout: 60_000 }, async t => {
    const cases: Array<{ name: string; bytes: Buffer; pattern: RegExp }> = [
      { name: '2 GiB body', bytes: header(20, 0x7fffffff), pattern: /exceeds maxFrameSize/ },
      { name: '2 GiB connection object', bytes: header(0x7fffffff, 0), pattern: /exceeds the limit of 1048576/ },
      { name: 'negative data length', bytes: header(20, -1), pattern: /negative length/ },
      { name: '2 GiB body on a response packet', bytes: header(20, 0x7fffffff, 1), pattern: /exceeds maxFrameSize/ },
    ];
    for (const c of cases) {
      const from = leader.messages.length;
      const ending = await attack(c.name, peer => {
        peer.write(c.bytes);
      });
      assert.equal(ending.bytesReceived, 0, c.name);
      // At the header, not after frameTimeout: the reason logged is the limit.
      const [warning] = await leaderWarned(c.pattern, from);
      t.diagnostic(`${c.name}: closed after ${ending.afterMs.toFixed(0)} ms: ${warning}`);
    }
    // A registered follower gets the same treatment.
    const from = leader.messages.length;
    const peer = await RawPeer.connect(port);
    await within(peer.register(CHANNEL), DEADLINE, () => 'raw follower registered');
    peer.write(header(20, 0x7fffffff));
    const ending = await within(peer.ended, DEADLINE, () => 'registered peer declaring 2 GiB: closed');
    const [warning] = await leaderWarned(/follower #\d+: .*exceeds maxFrameSize/, from);
    t.diagnostic(`registered, then 2 GiB: closed after ${ending.afterMs.toFixed(0)} ms: ${warning}`);
    const { rss } = await leader.resources();
    t.diagnostic(`leader RSS ${(rss / 2 ** 20).toFixed(1)} MiB (before the attack ${(rssBefore / 2 ** 20).toFixed(1)} MiB)`);
    await followersServed('after 2 GiB headers');
  });

  test(`half a packet, then silence: closed after frameTimeout (before and after registration)`, { timeout: 60_000 }, async t => {
    const packet = encodePacket(77, false, 1000, { type: 'register_channel', channelName: CHANNEL });
    // Unregistered: the registration deadline or the frame timer, whichever fires first.
    let from = leader.messages.length;
    const unregistered = await attack('half a register_channel', peer => {
      peer.write(packet.subarray(0, 30));
    });
    assert.equal(unregistered.bytesReceived, 0);
    const [first] = await leaderWarned(/did not register within 500ms|waited 500ms for the rest \(frameTimeout\)/, from);
    // Registered: only the frame timer can close it.
    from = leader.messages.length;
    const peer = await RawPeer.connect(port);
    await within(peer.register(CHANNEL), DEADLINE, () => 'raw follower registered');
    const half = encodePacket(78, false, 1000, { type: 'invoke', method: 'echo', argLength: 1, oneway: false }, encodeInvokeArgs(['x'.repeat(1000)], serializeJsonCodec));
    const sentAt = performance.now();
    peer.write(half.subarray(0, Math.floor(half.length / 2)));
    await within(peer.ended, DEADLINE, () => 'registered half packet: closed');
    const closedAfter = performance.now() - sentAt;
    assert.ok(closedAfter >= FRAME_TIMEOUT / 2, `closed ${closedAfter.toFixed(0)} ms after the half packet, before frameTimeout`);
    const [second] = await leaderWarned(/follower #\d+: .*waited 500ms for the rest \(frameTimeout\)/, from);
    assert.equal(peer.packets.filter(p => p.connObj.type === 'invoke_result').length, 0, 'the half invoke was not run');
    t.diagnostic(`unregistered: closed after ${unregistered.afterMs.toFixed(0)} ms (${first}); registered: closed ${closedAfter.toFixed(0)} ms after the half packet (${second})`);
    await followersServed('after half packets');
  });

  test('a slow sender (one byte every 50 ms of a registered invoke) is closed after frameTimeout', { timeout: 60_000 }, async t => {
    const from = leader.messages.length;
    const peer = await RawPeer.connect(port);
    await within(peer.register(CHANNEL), DEADLINE, () => 'raw follower registered');
    const bytes = encodePacket(79, false, 1000, { type: 'invoke', method: 'echo', argLength: 1, oneway: false }, encodeInvokeArgs(['slow'], serializeJsonCodec));
    let sent = 0;
    const startedAt = performance.now();
    // The attack itself: a byte at a time, far slower than the packet would need.
    const dribble = setInterval(() => {
      if (peer.closed || sent >= bytes.length) return;
      peer.write(bytes.subarray(sent, sent + 1));
      sent++;
    }, 50);
    try {
      await within(peer.ended, DEADLINE, () => 'slow sender closed');
    } finally {
      clearInterval(dribble);
    }
    const closedAfter = performance.now() - startedAt;
    assert.ok(sent < bytes.length, `the whole packet (${bytes.length} bytes) trickled in before the leader closed the connection`);
    const [warning] = await leaderWarned(/follower #\d+: .*waited 500ms for the rest \(frameTimeout\)/, from);
    t.diagnostic(`closed after ${closedAfter.toFixed(0)} ms, ${sent} of ${bytes.length} bytes sent: ${warning}`);
  });

  test('1,000 connections opened and dropped (batches of 100): all accepted, the leader drops its side of each', { timeout: 120_000 }, async t => {
    const from = leader.messages.length;
    const BATCH = 100;
    const TOTAL = 1000;
    const started = performance.now();
    let connected = 0;
    const errors: string[] = [];
    for (let b = 0; b < TOTAL / BATCH; b++) {
      await Promise.all(
        Array.from({ length: BATCH }, async (_, i) => {
          const socket = net.connect(port, '127.0.0.1');
          socket.on('error', err => errors.push(`${(err as NodeJS.ErrnoException).code ?? err.message}`));
          const closed = new Promise<void>(resolve => socket.once('close', () => resolve()));
          await once(socket, 'connect');
          connected++;
          // Half end gracefully, half are reset.
          if (i % 2 === 0) socket.end();
          else socket.resetAndDestroy();
          await closed;
        }),
      );
    }
    const elapsed = performance.now() - started;
    assert.equal(connected, TOTAL, 'every connection was accepted');
    assert.deepEqual(errors.filter(e => e !== 'ECONNRESET'), [], 'no connection error other than our own resets');
    const settleMs = await leaderSocketsBecome(baselineSockets, 'after 1,000 dropped connections');
    // A connection reset before the leader reads its address is not a non-loopback peer: nothing
    // is logged for dropped connections at all.
    const warnings = leaderWarnings(from);
    assert.deepEqual(warnings.slice(0, 5), [], 'dropping a connection is not worth a warning');
    t.diagnostic(`1,000 connections in ${elapsed.toFixed(0)} ms; the leader was back to ${baselineSockets} sockets ${settleMs.toFixed(0)} ms later`);
    await followersServed('after 1,000 connections');
  });

  test(
    'a loopback connection reset right after connecting is not reported as a refused non-loopback peer',
    {
      timeout: 60_000,
    },
    async t => {
      const from = leader.messages.length;
      // A busy leader: its event loop is blocked while 100 loopback clients connect (the kernel
      // completes the handshakes) and reset; it accepts them once it is free again.
      const busy = leader.command({ cmd: 'block', ms: 1500 });
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          const socket = net.connect(port, '127.0.0.1');
          socket.on('error', () => undefined);
          const closed = new Promise<void>(resolve => socket.once('close', () => resolve()));
          await once(socket, 'connect');
          socket.resetAndDestroy();
          await closed;
        }),
      );
      await within(busy, DEADLINE, () => 'the leader is free again');
      // Accepts are in order: once a later connection is answered, the 100 were accepted. The
      // log lines travel over IPC, in order with the answer to `resources`.
      const probe = await RawPeer.connect(port);
      await within(probe.roundTrip(), DEADLINE, () => 'a heartbeat after the resets');
      probe.destroy();
      await leader.resources();
      await leaderSocketsBecome(baselineSockets, 'after 100 resets');
      const misreported = leaderWarnings(from).filter(w => /non-loopback/.test(w));
      t.diagnostic(`${misreported.length} of 100 resets logged as non-loopback peers: ${misreported[0] ?? ''}`);
      assert.deepEqual(misreported, [], 'a loopback peer is never reported as non-loopback');
    },
  );

  test('after the attacks: zero failed calls, the leader alive and serving, sockets back to normal, a new follower registers', { timeout: 120_000 }, async t => {
    // Every hostile connection is gone on the leader's side too.
    const settleMs = await leaderSocketsBecome(baselineSockets, 'after the attacks');
    assert.equal(leader.child.exitCode, null, 'the leader process is alive');
    assert.equal(leader.child.signalCode, null);
    assert.equal(await within(leader.invoke('pid'), DEADLINE, () => 'the leader answers'), leader.pid);
    const pids = await within(Promise.all(followers.map(f => f.invoke('pid'))), DEADLINE, () => 'the followers call the leader');
    assert.deepEqual(pids, [leader.pid, leader.pid, leader.pid]);

    // A new follower can still register, and is served by the same leader.
    const late = spawn({ port, isLeader: false });
    assert.equal(await within(late.ready(), DEADLINE, () => 'a new follower is ready'), false);
    assert.equal(await within(late.invoke('pid'), DEADLINE, () => 'the new follower calls the leader'), leader.pid);
    await leaderSocketsBecome(baselineSockets + 1, 'with the new follower');
    await late.close();
    live.delete(late);
    await leaderSocketsBecome(baselineSockets, 'after the new follower left');

    const stats = await Promise.all(followers.map(stopLoop));
    for (const [i, s] of stats.entries()) {
      assert.equal(failureCount(s), 0, `follower ${i} (pid ${followers[i]!.pid}) had failed calls: ${JSON.stringify(s.failures)} ${JSON.stringify(s.failureSamples.slice(0, 3))}`);
      assert.ok(s.ok > 0);
    }
    for (const f of followers) {
      assert.deepEqual(f.logs(), [], `follower ${f.pid} logged nothing (no lost leader, no reconnection)`);
      assert.deepEqual(f.clientErrors(), [], `follower ${f.pid} emitted no error`);
    }
    assert.deepEqual(leader.logs('error'), [], 'the leader logged no errors (warnings only)');
    const after = await leader.resources();
    t.diagnostic(`loops: ${stats.map((s, i) => `follower ${i}: ${s.ok} ok / ${s.calls} calls`).join('; ')}; leader sockets settled in ${settleMs.toFixed(0)} ms; leader warnings in all: ${leader.logs('warn').length}; leader RSS ${(rssBefore / 2 ** 20).toFixed(1)} → ${(after.rss / 2 ** 20).toFixed(1)} MiB (peak ${(after.maxRss / 2 ** 20).toFixed(1)} MiB)`);
    await Promise.all([...followers, leader].map(m => m.close()));
    for (const m of [...followers, leader]) live.delete(m);
  });
});
