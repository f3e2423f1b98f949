/**
 * Backpressure and fairness with real processes and real sockets.
 *
 * - A raw follower that subscribes and then stops reading (socket.pause()) while the leader's
 *   DataClient pushes 1 MiB values: with maxWriteBuffer 4 MiB the leader drops that connection
 *   (the raw socket is closed; the leader logs why), its RSS stays bounded, and the real
 *   followers subscribed to the same key receive every value.
 * - A raw follower floods the leader (thousands of invokes in flight, then a tight loop of oneway
 *   invokes) while 2 real followers call `echo` one at a time: the 2 keep completing calls.
 *
 * Numbers (RSS, calls per window) are reported with t.diagnostic; the assertions are generous
 * bounds, never tight timings (the suite runs on loaded 2-core machines).
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { serializeJsonCodec } from '../src/protocol/codec.js';
import { encodeInvokeArgs, encodePacket, nextRequestId } from '../src/protocol/packet.js';
import { failureCount, freePort, loopStats, Member, served, startLoop, stopLoop, trackMembers } from './helpers/group.js';
import { RawPeer } from './helpers/raw-peer.js';
import { within } from './helpers/within.js';

const CHANNEL = 'FixtureClient';
const DEADLINE = 30_000;
const MiB = 1024 * 1024;

const { live, spawn } = trackMembers();

async function closeAll(members: Member[]): Promise<void> {
  await Promise.all(members.map(m => m.close()));
  for (const m of members) live.delete(m);
}

const mib = (bytes: number): string => (bytes / MiB).toFixed(1);

describe('a follower that stops reading', () => {
  test('is dropped once 4 MiB (maxWriteBuffer) are queued for it; the leader stays bounded; the other subscribers get every value', { timeout: 180_000 }, async t => {
    const MAX_WRITE_BUFFER = 4 * MiB;
    const VALUE_SIZE = 1 * MiB;
    /** Pushes before giving up on the drop (the kernel's socket buffers take several MiB first). */
    const MAX_ROUNDS_TO_DROP = 150;
    /** Pushes after the drop: without the cap, each would stay queued for the stalled peer. */
    const ROUNDS_AFTER_DROP = 120;
    const KEY = 'big';
    const port = await freePort();
    // --expose-gc: the leader's retained memory is measured after a full collection.
    const leader = new Member({ options: { port, isLeader: true, maxWriteBuffer: MAX_WRITE_BUFFER } }, [...process.execArgv, '--expose-gc']);
    live.add(leader);
    assert.equal(await within(leader.ready(), DEADLINE, () => 'leader ready'), true);
    const readers = [spawn({ port, isLeader: false, responseTimeout: 15_000 }), spawn({ port, isLeader: false, responseTimeout: 15_000 })];
    assert.deepEqual(await within(Promise.all(readers.map(r => r.ready())), DEADLINE, () => 'readers ready'), [false, false]);
    for (const r of readers) {
      await r.command({ cmd: 'subscribeSummary', key: KEY });
      await r.invoke('echo', 'sync'); // the subscribe went first on the same socket
    }

    // The raw follower: registers (tagged-v1, like the real ones), subscribes, then stops reading.
    const stalled = await RawPeer.connect(port);
    await within(stalled.register(CHANNEL, ['tagged-v1']), DEADLINE, () => 'raw follower registered');
    stalled.send({ type: 'subscribe', key: `$$inner$$__${JSON.stringify({ key: KEY })}`, reg: { key: KEY } });
    await within(stalled.roundTrip(), DEADLINE, () => 'raw follower subscribed');
    stalled.socket.pause();

    const from = leader.messages.length;
    const dropWarning = /peer is not reading: (\d+) unsent bytes exceed maxWriteBuffer 4194304; connection dropped/;
    const warned = (): boolean => leader.messages.slice(from).some(m => m.event === 'log' && m.level === 'warn' && dropWarning.test(String(m.message)));
    const baseline = await leader.resources(true);
    assert.equal(baseline.collected, true, 'the leader can collect garbage on request');
    assert.equal(baseline.handles.TCPSocketWrap, 3, 'the leader holds 3 follower sockets');
    let peakRss = baseline.rss;
    /** The most Buffer memory still referenced (after a full GC) at any sample. */
    let peakRetained = baseline.arrayBuffers;
    const retainedSamples: string[] = [];
    let dropRound = 0;
    let seq = 0;
    const started = performance.now();
    // Paced by the readers: the next value is pushed once both real followers have the last one,
    // so only the stalled peer can fall behind.
    while (true) {
      seq++;
      const readersHave = readers.map(r => r.waitFor(m => m.event === 'valueSummary' && m.key === KEY && m.seq === seq));
      const listeners = await within(leader.invoke('pushBlob', KEY, seq, VALUE_SIZE), DEADLINE, () => `push ${seq}`);
      assert.equal(listeners, 1, 'one upstream listener for the key, however many subscribers');
      await within(Promise.all(readersHave), DEADLINE, () => `value ${seq} reaches both readers`);
      // Sampled: the RSS as it is, and what is still referenced after a full GC.
      if (seq % 5 === 0) peakRss = Math.max(peakRss, (await leader.resources()).rss);
      if (seq % 10 === 0) {
        const r = await leader.resources(true);
        peakRetained = Math.max(peakRetained, r.arrayBuffers);
        retainedSamples.push(`${seq}:${mib(r.arrayBuffers)}`);
      }
      if (dropRound === 0 && warned()) dropRound = seq;
      if (dropRound === 0 && seq >= MAX_ROUNDS_TO_DROP) break;
      if (dropRound > 0 && seq >= dropRound + ROUNDS_AFTER_DROP) break;
    }
    const elapsed = performance.now() - started;
    const end = await leader.resources();
    peakRss = Math.max(peakRss, end.rss);
    const endRetained = (await leader.resources(true)).arrayBuffers;
    const warning = leader.logs('warn').find(w => dropWarning.test(w));

    assert.ok(dropRound > 0, `the stalled follower was not dropped after ${seq} values of ${mib(VALUE_SIZE)} MiB (leader warnings: ${JSON.stringify(leader.logs('warn').slice(0, 3))})`);
    // The raw socket was closed by the leader: once it reads again it gets the rest and the end.
    stalled.socket.resume();
    const ending = await within(stalled.ended, DEADLINE, () => 'the stalled follower\'s socket is closed by the leader');
    const valuesReceived = stalled.packets.filter(p => p.connObj.type === 'subscribe_result').length;
    assert.ok(valuesReceived < seq, `the stalled follower got ${valuesReceived} of ${seq} values: it was cut off`);

    // The readers got every value, in order, whole.
    for (const r of readers) {
      const got = r.summaries(KEY);
      assert.deepEqual(got.map(v => v.seq), Array.from({ length: seq }, (_, i) => i + 1), `reader ${r.pid} received every value in order`);
      assert.ok(got.every(v => v.size === VALUE_SIZE), `reader ${r.pid}: every value is ${VALUE_SIZE} bytes`);
      assert.deepEqual(r.logs(), [], `reader ${r.pid} logged nothing`);
    }
    assert.equal(end.handles.TCPSocketWrap, 2, 'the leader holds the 2 readers\' sockets only');
    // Bounded. Without the cap the leader would keep every value pushed since the stall (over
    // 100 MiB) referenced for the stalled peer. With it, what is referenced after a GC never
    // exceeds maxWriteBuffer plus a value or two in flight; the RSS also holds garbage not yet
    // collected (V8 collects external memory lazily, in steps of tens of MiB), hence its looser bound.
    const retainedGrowth = peakRetained - baseline.arrayBuffers;
    assert.ok(retainedGrowth < MAX_WRITE_BUFFER + 4 * VALUE_SIZE, `Buffer memory still referenced grew by ${mib(retainedGrowth)} MiB (samples seq:MiB ${retainedSamples.join(' ')})`);
    assert.ok(endRetained - baseline.arrayBuffers < 2 * VALUE_SIZE, `after the drop and a GC, ${mib(endRetained - baseline.arrayBuffers)} MiB of Buffers are still referenced`);
    const growth = peakRss - baseline.rss;
    assert.ok(growth < 128 * MiB, `leader RSS grew by ${mib(growth)} MiB (baseline ${mib(baseline.rss)}, peak ${mib(peakRss)})`);
    assert.deepEqual(leader.logs('error'), []);
    assert.equal(await within(readers[0]!.invoke('pid'), DEADLINE, () => 'the leader still serves'), leader.pid);
    t.diagnostic(`dropped after value ${dropRound} (${mib(dropRound * VALUE_SIZE)} MiB pushed; the kernel buffers took the rest beyond maxWriteBuffer); ${seq} values in ${(elapsed / 1000).toFixed(1)} s; the stalled peer decoded ${valuesReceived} values (${mib(ending.bytesReceived)} MiB) before its end (${ending.error?.code ?? 'clean end'}); leader warning: ${warning}`);
    t.diagnostic(`leader RSS: baseline ${mib(baseline.rss)} MiB, peak sampled ${mib(peakRss)} MiB (+${mib(growth)}), at the end ${mib(end.rss)} MiB, process max ${mib(end.maxRss)} MiB`);
    t.diagnostic(`leader Buffer memory still referenced after a GC: baseline ${mib(baseline.arrayBuffers)} MiB, peak ${mib(peakRetained)} MiB, at the end ${mib(endRetained)} MiB (samples seq:MiB ${retainedSamples.join(' ')})`);
    await closeAll([...readers, leader]);
  });
});

describe('fairness', () => {
  test('while one follower floods the leader, 2 others calling one at a time keep completing calls', { timeout: 180_000 }, async t => {
    const WINDOW_MS = 5000;
    const IN_FLIGHT = 2000;
    /** Generous: a fair leader serves each caller hundreds of calls per window on a loaded machine. */
    const MIN_CALLS = 20;
    const port = await freePort();
    const leader = spawn({ port, isLeader: true });
    assert.equal(await within(leader.ready(), DEADLINE, () => 'leader ready'), true);
    const callers = [spawn({ port, isLeader: false, responseTimeout: 15_000 }), spawn({ port, isLeader: false, responseTimeout: 15_000 })];
    assert.deepEqual(await within(Promise.all(callers.map(c => c.ready())), DEADLINE, () => 'callers ready'), [false, false]);
    await Promise.all(callers.map(startLoop));
    await within(Promise.all(callers.map(served)), DEADLINE, () => 'callers served');

    /** The callers' completed calls during `run()`. */
    async function measure(run: () => Promise<void>): Promise<number[]> {
      const before = await Promise.all(callers.map(loopStats));
      await run();
      const after = await Promise.all(callers.map(loopStats));
      return after.map((s, i) => s.ok - before[i]!.ok);
    }
    /** Resolves after `ms`: the length of a measurement window (not a synchronisation). */
    const windowOf = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

    const quiet = await measure(() => windowOf(WINDOW_MS));

    // Flood 1: IN_FLIGHT invokes always in flight (each answer sends another).
    const flooder = await RawPeer.connect(port);
    await within(flooder.register(CHANNEL), DEADLINE, () => 'flooder registered');
    flooder.keepPackets = false;
    const echoArgs = Buffer.concat(encodeInvokeArgs(['flood'], serializeJsonCodec));
    const invokePacket = (oneway: boolean): Buffer => encodePacket(nextRequestId(), false, 60_000, { type: 'invoke', method: 'echo', argLength: 1, oneway }, echoArgs);
    let flooding = true;
    let answered = 0;
    let failedAnswers = 0;
    let outstanding = 0;
    let drained: (() => void) | undefined;
    flooder.onPacket = packet => {
      if (packet.connObj.type !== 'invoke_result') return;
      answered++;
      outstanding--;
      if (packet.connObj.success !== true) failedAnswers++;
      if (flooding) {
        flooder.write(invokePacket(false));
        outstanding++;
      } else if (outstanding === 0) {
        drained?.();
      }
    };
    const inFlight = await measure(async () => {
      for (let i = 0; i < IN_FLIGHT; i++) flooder.write(invokePacket(false));
      outstanding += IN_FLIGHT;
      await windowOf(WINDOW_MS);
      flooding = false;
    });
    // Every flood call is answered too (nothing lost), then the flooder stops.
    if (outstanding > 0) await within(new Promise<void>(resolve => { drained = resolve; }), DEADLINE, () => `the last ${outstanding} flood calls answered`);
    const inFlightAnswered = answered;

    // Flood 2: a tight loop of oneway invokes, as fast as the socket takes them.
    let oneways = 0;
    const oneway = await measure(async () => {
      const until = performance.now() + WINDOW_MS;
      while (performance.now() < until) {
        let ok = true;
        for (let i = 0; i < 256 && ok; i++) {
          ok = flooder.write(invokePacket(true));
          oneways++;
        }
        // Our own socket's backpressure: wait until it drains (the leader reads it), or yield.
        if (!ok) await within(new Promise<void>(resolve => flooder.socket.once('drain', () => resolve())), DEADLINE, () => 'the flooder socket drains');
        else await new Promise(resolve => setImmediate(resolve));
      }
    });
    // The oneway calls were all read: a heartbeat behind them is answered.
    flooder.onPacket = undefined;
    flooder.keepPackets = true;
    await within(flooder.roundTrip(), DEADLINE, () => 'heartbeat after the oneway flood');

    const stats = await Promise.all(callers.map(stopLoop));
    const rss = (await leader.resources()).rss;
    t.diagnostic(`callers' completed calls per ${WINDOW_MS} ms window — quiet: ${quiet.join(', ')}; during ${IN_FLIGHT} invokes in flight: ${inFlight.join(', ')} (flooder got ${inFlightAnswered} answers); during the oneway flood: ${oneway.join(', ')} (${oneways} oneway invokes sent)`);
    t.diagnostic(`leader RSS after the floods: ${mib(rss)} MiB; caller loops: ${stats.map(s => `${s.ok} ok / ${s.calls}`).join('; ')}`);

    for (const [i, n] of inFlight.entries()) assert.ok(n >= MIN_CALLS, `caller ${i} completed ${n} calls during the in-flight flood (quiet: ${quiet[i]})`);
    for (const [i, n] of oneway.entries()) assert.ok(n >= MIN_CALLS, `caller ${i} completed ${n} calls during the oneway flood (quiet: ${quiet[i]})`);
    for (const [i, s] of stats.entries()) assert.equal(failureCount(s), 0, `caller ${i}: failed calls ${JSON.stringify(s.failures)} ${JSON.stringify(s.failureSamples.slice(0, 3))}`);
    assert.equal(failedAnswers, 0, 'every flood call succeeded');
    assert.ok(inFlightAnswered >= IN_FLIGHT, `the flooder got ${inFlightAnswered} answers`);
    assert.deepEqual(leader.logs('error'), []);
    flooder.destroy();
    await closeAll([...callers, leader]);
  });
});
