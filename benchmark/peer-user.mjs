// The cost of the leader's user check (src/transport/peer-user.ts): on Linux the leader reads
// /proc/net/tcp for every accepted loopback connection to find who owns it. That file lists every
// TCP socket of the network namespace, so the lookup grows with the number of sockets open on
// the host, whoever holds them; and to write it the kernel walks its whole established-connection
// hash table (net.ipv4.tcp_ehash_entries, sized from the machine's memory), which sets a floor
// however few sockets there are (the nearly empty /proc/net/tcp6 is timed to show it). Measured
// at two sizes of the table (about 50 and about 1000 sockets, the rest held open by a ballast
// process; other programs' sockets count too, so the row counts are printed):
//
//   lookup         peerUser(socket) from dist/esm/transport/peer-user.js on an accepted loopback
//                  connection, called back to back in this process (the check alone), next to
//                  a bare fs.promises.readFile('/proc/net/tcp') (the part the kernel does);
//   registration   one follower registration against a real leader process: connect to the
//                  port, send register_channel, read register_channel_res, reset the socket
//                  (RST, so no TIME_WAIT rows pile up in the table being measured). Over TCP the
//                  leader runs the check; over a unix socket (`path`) it does not, which gives
//                  the same cycle without the check as a reference (a different transport, so
//                  compare the two with that in mind).
//
// The check cannot be switched off on TCP: allowedUsers ["*"] still looks every connection up
// (it only skips the verdict), so "with / without" is lookup cost vs. registration cost here.
//
//   node benchmark/peer-user.mjs [--cycles=2000] [--lookups=2000] [--levels=50,1000]
//
// Linux only. Uses the built dist/ (a private copy, see lib/harness.mjs); it never builds.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { IpcChild, fmtUs, freePort, nowUs, printMachine, printTable, roundNumbers, runIfMain, snapshotClusterShare } from './lib/harness.mjs';

const here = fileURLToPath(import.meta.url);
const role = ['leader', 'ballast'].includes(process.argv[2]) ? process.argv[2] : undefined;

/** Rows (sockets) in /proc/net/tcp and /proc/net/tcp6, without the header lines. */
function tableRows() {
  let rows = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      rows += fs.readFileSync(file, 'latin1').split('\n').filter(Boolean).length - 1;
    } catch {}
  }
  return rows;
}

const tableBytes = () => ['/proc/net/tcp', '/proc/net/tcp6'].map(f => { try { return fs.readFileSync(f, 'latin1').length; } catch { return 0; } });

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const pick = q => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: sorted.length, mean: sorted.reduce((a, b) => a + b, 0) / sorted.length, median: pick(0.5), p90: pick(0.9), p99: pick(0.99) };
}

// ------------------------------------------------------------------------ child: the leader
if (role === 'leader') {
  const [, , , shareUrl, port, path] = process.argv;
  const { default: cluster } = await import(shareUrl);
  const { EventEmitter } = await import('node:events');
  class Store extends EventEmitter {
    async get(key) {
      return key;
    }
  }
  const quiet = { info() {}, warn() {}, error() {} };
  // Two endpoints in one leader process: TCP (checked) and a unix socket (not checked).
  const tcp = cluster(Store, { port: Number(port), isLeader: true, logger: quiet }).create();
  const unix = cluster(Store, { path, isLeader: true, logger: quiet }).create();
  await Promise.all([tcp.ready(), unix.ready()]);
  process.send({ type: 'ready', pid: process.pid });
  process.on('message', () => undefined);
}

// --------------------------------------------------------------- child: sockets held open
if (role === 'ballast') {
  const server = net.createServer(socket => held.push(socket));
  const held = [];
  server.listen(0, '127.0.0.1');
  await new Promise(resolve => server.once('listening', resolve));
  const { port } = server.address();
  const clients = [];
  process.on('message', async ({ id, rows: target }) => {
    // Each connection adds two rows (its two ends). Grow or shrink towards `target` rows in all.
    let missing = target - tableRows();
    while (missing >= 2) {
      const socket = net.connect(port, '127.0.0.1');
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      clients.push(socket);
      missing -= 2;
    }
    while (missing <= -2 && clients.length > 0) {
      clients.pop().resetAndDestroy();
      missing += 2;
    }
    // The server side of a reset connection goes away once its 'close' ran.
    await new Promise(resolve => setTimeout(resolve, 50));
    process.send({ id, rows: tableRows(), connections: clients.length });
  });
  process.send({ type: 'ready', pid: process.pid });
}

// ------------------------------------------------------------------------ the measurement
async function main() {
  const { values } = parseArgs({
    options: {
      cycles: { type: 'string', default: '2000' },
      lookups: { type: 'string', default: '2000' },
      levels: { type: 'string', default: '50,1000' },
    },
  });
  const cycles = Number(values.cycles);
  const lookups = Number(values.lookups);
  const levels = values.levels.split(',').map(Number);
  if (process.platform !== 'linux') {
    console.error('the user check reads /proc/net/tcp: Linux only');
    process.exit(2);
  }
  const shareUrl = snapshotClusterShare();
  const { peerUser } = await import(new URL('./transport/peer-user.js', shareUrl).href);
  const { encodePacket } = await import(new URL('./protocol/packet.js', shareUrl).href);
  const { serializeJsonCodec } = await import(new URL('./protocol/codec.js', shareUrl).href);
  const { FrameDecoder } = await import(new URL('./protocol/frame-decoder.js', shareUrl).href);

  printMachine();
  // The kernel walks its whole established-connections hash for every read of /proc/net/tcp*,
  // however few sockets there are: its size sets the floor of a lookup.
  const ehash = (() => { try { return Number(fs.readFileSync('/proc/sys/net/ipv4/tcp_ehash_entries', 'utf8')); } catch { return null; } })();
  if (ehash) console.log(`TCP established hash: ${ehash.toLocaleString('en-US')} buckets (net.ipv4.tcp_ehash_entries)`);
  console.log(`user check cost: ${lookups} lookups and ${cycles} registrations per transport, at ${levels.join(' and ')} sockets in /proc/net/tcp(6)`);

  const port = await freePort();
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'cs-bench-peer-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'leader.sock');
  const leader = new IpcChild(here, ['leader', shareUrl, String(port), path], 'leader');
  const ballast = new IpcChild(here, ['ballast'], 'ballast');
  await Promise.all([leader.ready, ballast.ready]);

  // One registration: connect, register_channel, read the answer, reset. µs.
  const REGISTER = encodePacket(1, false, 10_000, { type: 'register_channel', channelName: 'Store' });
  async function register(target) {
    const t0 = nowUs();
    const socket = net.connect(target);
    socket.setNoDelay(true);
    const answer = await new Promise((resolve, reject) => {
      const decoder = new FrameDecoder({ onPacket: resolve, onFrameError: reject });
      socket.on('data', chunk => decoder.push(chunk));
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('closed before the answer')));
      socket.once('connect', () => socket.write(REGISTER));
    });
    const us = nowUs() - t0;
    socket.removeAllListeners('close');
    socket.on('error', () => undefined);
    // TCP: RST, so no TIME_WAIT row is left in the table being measured. (A unix socket has no RST.)
    if (target.path) socket.destroy();
    else socket.resetAndDestroy();
    const body = serializeJsonCodec.decode(answer.data);
    if (body?.success !== true) throw new Error(`registration refused: ${JSON.stringify(body)}`);
    return us;
  }

  // The connection whose owner the lookups find: accepted by a server in this process.
  const probeServer = net.createServer();
  probeServer.listen(0, '127.0.0.1');
  await new Promise(resolve => probeServer.once('listening', resolve));
  const accepted = new Promise(resolve => probeServer.once('connection', resolve));
  const probeClient = net.connect(probeServer.address().port, '127.0.0.1');
  const probe = await accepted;
  const ownUid = process.getuid();
  const found = await peerUser(probe);
  if (found.uid !== ownUid) throw new Error(`peerUser did not find this process's own socket: ${JSON.stringify(found)}`);

  const results = [];
  for (const level of levels) {
    const { rows: rowsBefore } = await ballast.call({ rows: level });
    const [tcpBytes, tcp6Bytes] = tableBytes();
    // Warm-up (JIT, page cache of nothing: /proc is generated on every read).
    for (let i = 0; i < 100; i++) await peerUser(probe);
    for (let i = 0; i < 50; i++) await register({ port, host: '127.0.0.1' });
    for (let i = 0; i < 50; i++) await register({ path });

    const lookup = [];
    const read = [];
    const read6 = [];
    for (let i = 0; i < lookups; i++) {
      let t0 = nowUs();
      const user = await peerUser(probe);
      lookup.push(nowUs() - t0);
      if (user.uid !== ownUid) throw new Error(`lookup ${i}: ${JSON.stringify(user)}`);
      t0 = nowUs();
      await fs.promises.readFile('/proc/net/tcp', 'latin1');
      read.push(nowUs() - t0);
      // tcp6 (nearly empty here): what a read costs whatever the table holds. A connection whose
      // owner is not in /proc/net/tcp (refused as unknown) costs both reads.
      t0 = nowUs();
      await fs.promises.readFile('/proc/net/tcp6', 'latin1');
      read6.push(nowUs() - t0);
    }
    // Registrations, TCP and unix socket interleaved in 10 rounds (drift hits both alike).
    const tcpCycle = [];
    const unixCycle = [];
    const rounds = 10;
    for (let r = 0; r < rounds; r++) {
      const n = Math.ceil(cycles / rounds);
      for (let i = 0; i < n; i++) tcpCycle.push(await register({ port, host: '127.0.0.1' }));
      for (let i = 0; i < n; i++) unixCycle.push(await register({ path }));
    }
    const rowsAfter = tableRows();
    const entry = {
      targetSockets: level,
      socketsBefore: rowsBefore,
      socketsAfter: rowsAfter,
      tableBytes: { tcp: tcpBytes, tcp6: tcp6Bytes },
      lookupUs: stats(lookup),
      readFileUs: stats(read),
      readFileTcp6Us: stats(read6),
      registerTcpUs: stats(tcpCycle),
      registerUnixUs: stats(unixCycle),
    };
    entry.lookupShareOfTcpRegistration = entry.lookupUs.median / entry.registerTcpUs.median;
    entry.tcpMinusUnixUs = entry.registerTcpUs.median - entry.registerUnixUs.median;
    results.push(entry);
    console.log(`\n~${level} sockets (${rowsBefore} rows before, ${rowsAfter} after; /proc/net/tcp ${(tcpBytes / 1024).toFixed(1)} KiB, tcp6 ${(tcp6Bytes / 1024).toFixed(1)} KiB)`);
    console.log(`  peerUser() lookup:              median ${fmtUs(entry.lookupUs.median)}, mean ${fmtUs(entry.lookupUs.mean)}, p99 ${fmtUs(entry.lookupUs.p99)}`);
    console.log(`  readFile('/proc/net/tcp') alone: median ${fmtUs(entry.readFileUs.median)}; readFile('/proc/net/tcp6') (${tcp6Bytes} bytes): median ${fmtUs(entry.readFileTcp6Us.median)}`);
    console.log(`  registration over TCP (checked):       median ${fmtUs(entry.registerTcpUs.median)}, mean ${fmtUs(entry.registerTcpUs.mean)}, p99 ${fmtUs(entry.registerTcpUs.p99)}`);
    console.log(`  registration over a unix socket (not): median ${fmtUs(entry.registerUnixUs.median)}, mean ${fmtUs(entry.registerUnixUs.mean)}, p99 ${fmtUs(entry.registerUnixUs.p99)}`);
    console.log(`  the lookup is ${(100 * entry.lookupShareOfTcpRegistration).toFixed(0)}% of a TCP registration`);
  }

  printTable('summary (medians)', ['sockets', 'lookup', 'read tcp', 'read tcp6', 'register TCP', 'register unix', 'lookup / TCP'],
    results.map(r => [String(r.socketsBefore), fmtUs(r.lookupUs.median), fmtUs(r.readFileUs.median), fmtUs(r.readFileTcp6Us.median), fmtUs(r.registerTcpUs.median), fmtUs(r.registerUnixUs.median), `${(100 * r.lookupShareOfTcpRegistration).toFixed(0)}%`]));

  probeClient.destroy();
  probe.destroy();
  probeServer.close();
  await Promise.all([leader.kill(), ballast.kill()]);
  console.log('RESULT ' + JSON.stringify({ cycles, lookups, tcpEhashEntries: ehash, levels: results }, roundNumbers));
}

if (!role) runIfMain(import.meta.url, main);
