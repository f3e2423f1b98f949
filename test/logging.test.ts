/**
 * Logging, seen from outside real member processes: the `util.debuglog` sections on stderr
 * (`NODE_DEBUG=cluster-share*`, one section, none), and the `logger` option: a custom logger gets
 * the warnings and info lines and the console nothing; the default logger writes warnings to
 * the console and info only with NODE_DEBUG=cluster-share.
 *
 * debuglog writes `SECTION PID: message` with the section upper-cased. Absence is only asserted
 * once a member has exited and its stderr is closed (all of it has been read).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ClusterOptions } from '../src/index.js';
import type { MemberConfig } from './fixtures/member.js';
import { freePort, Member, trackMembers } from './helpers/group.js';
import { within } from './helpers/within.js';

const { live } = trackMembers();

/** This process's environment without NODE_DEBUG, plus `extra`. */
function envWith(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_DEBUG;
  return { ...env, ...extra };
}

/** A member whose stderr is captured, started with `env`. */
function member(options: ClusterOptions, env: NodeJS.ProcessEnv, extra: Partial<MemberConfig> = {}): Member {
  const m = new Member({ options, ...extra }, undefined, { env, captureStderr: true });
  live.add(m);
  return m;
}

/** Starts a leader, then a follower (so who leads is known). */
async function pair(env: NodeJS.ProcessEnv, extra: Partial<MemberConfig> = {}): Promise<{ leader: Member; follower: Member }> {
  const options: ClusterOptions = { port: await freePort() };
  const leader = member(options, env, extra);
  assert.equal(await within(leader.ready(), 30_000, () => 'leader ready'), true, 'the first member leads');
  const follower = member(options, env, extra);
  assert.equal(await within(follower.ready(), 30_000, () => 'follower ready'), false, 'the second follows');
  return { leader, follower };
}

/** Graceful close (the process exits), then waits until its stderr is closed. */
async function closeAndDrain(m: Member): Promise<void> {
  await within(m.close(), 30_000, () => `close of member ${m.pid}`);
  await within(m.closed, 30_000, () => `stdio of member ${m.pid} closed`);
  live.delete(m);
}

interface DebugLine {
  section: string;
  pid: number;
  message: string;
}

/** The debuglog lines (`SECTION PID: message`) of a stderr text. */
function debugLines(stderr: string): DebugLine[] {
  const out: DebugLine[] = [];
  for (const line of stderr.split('\n')) {
    const match = /^([A-Z0-9_:*-]+) (\d+): (.*)$/.exec(line);
    if (match) out.push({ section: match[1]!, pid: Number(match[2]), message: match[3]! });
  }
  return out;
}

const sectionsOf = (lines: DebugLine[]): string[] => [...new Set(lines.map(l => l.section))].sort();

/** Some traffic that every section has something to say about: calls, a subscription, a publication. */
async function exercise(leader: Member, follower: Member): Promise<void> {
  for (let i = 0; i < 3; i++) assert.equal(await follower.invoke('echo', i), i);
  await follower.command({ cmd: 'subscribe', key: 'k' });
  await follower.command({ cmd: 'publish', reg: { service: 'x' } });
  assert.equal(await leader.invoke('echo', 'leader'), 'leader');
}

describe('debuglog sections', () => {
  test('NODE_DEBUG=cluster-share*: client, leader, follower, server and connection lines, each with its own pid', { timeout: 60_000 }, async () => {
    const { leader, follower } = await pair(envWith({ NODE_DEBUG: 'cluster-share*' }));
    await exercise(leader, follower);
    await closeAndDrain(follower);
    await closeAndDrain(leader);
    const leaderLines = debugLines(leader.stderr);
    const followerLines = debugLines(follower.stderr);
    const leaderSections = sectionsOf(leaderLines);
    const followerSections = sectionsOf(followerLines);
    for (const section of ['CLUSTER-SHARE:CLIENT', 'CLUSTER-SHARE:LEADER', 'CLUSTER-SHARE:SERVER']) {
      assert.ok(leaderSections.includes(section), `the leader's stderr has ${section} lines (it has ${leaderSections.join(', ')}):\n${leader.stderr}`);
    }
    for (const section of ['CLUSTER-SHARE:CLIENT', 'CLUSTER-SHARE:FOLLOWER', 'CLUSTER-SHARE:CONNECTION']) {
      assert.ok(followerSections.includes(section), `the follower's stderr has ${section} lines (it has ${followerSections.join(', ')}):\n${follower.stderr}`);
    }
    assert.ok(!leaderSections.includes('CLUSTER-SHARE:FOLLOWER'), 'the leader never followed: no follower lines');
    assert.ok(!followerSections.includes('CLUSTER-SHARE:LEADER'), 'the follower never led: no leader lines');
    for (const line of leaderLines) assert.equal(line.pid, leader.pid, `a leader line names its pid: ${line.section} ${line.pid}: ${line.message}`);
    for (const line of followerLines) assert.equal(line.pid, follower.pid, `a follower line names its pid: ${line.section} ${line.pid}: ${line.message}`);
    for (const line of [...leaderLines, ...followerLines]) assert.match(line.section, /^CLUSTER-SHARE(:|$)/, 'only cluster-share sections');
    // What the lines say: the election, the registration, the port.
    assert.ok(leaderLines.some(l => l.section === 'CLUSTER-SHARE:CLIENT' && /election/.test(l.message)), 'the client section tells about the election');
    assert.ok(leaderLines.some(l => l.section === 'CLUSTER-SHARE:LEADER' && /registered/.test(l.message)), 'the leader section tells a follower registered');
    assert.ok(leaderLines.some(l => l.section === 'CLUSTER-SHARE:SERVER' && /listening/.test(l.message)), 'the server section tells where it listens');
  });

  test('NODE_DEBUG=cluster-share:leader: only leader lines, only in the leader', { timeout: 60_000 }, async () => {
    const { leader, follower } = await pair(envWith({ NODE_DEBUG: 'cluster-share:leader' }));
    await exercise(leader, follower);
    await closeAndDrain(follower);
    await closeAndDrain(leader);
    const leaderLines = debugLines(leader.stderr);
    assert.ok(leaderLines.length > 0, `the leader wrote leader lines:\n${leader.stderr}`);
    assert.deepEqual(sectionsOf(leaderLines), ['CLUSTER-SHARE:LEADER'], `only the leader section:\n${leader.stderr}`);
    assert.deepEqual(debugLines(follower.stderr), [], `the follower wrote no debug line:\n${follower.stderr}`);
    assert.doesNotMatch(leader.stderr + follower.stderr, /CLUSTER-SHARE:(CLIENT|FOLLOWER|SERVER|CONNECTION)/);
  });

  test('no NODE_DEBUG: no debug line at all', { timeout: 60_000 }, async () => {
    const { leader, follower } = await pair(envWith());
    await exercise(leader, follower);
    await closeAndDrain(follower);
    await closeAndDrain(leader);
    for (const m of [leader, follower]) {
      assert.deepEqual(debugLines(m.stderr), [], `member ${m.pid} wrote no debug line:\n${m.stderr}`);
      assert.doesNotMatch(m.stderr, /cluster-share/i, `member ${m.pid}: nothing of cluster-share on stderr`);
    }
  });
});

describe('the logger option', () => {
  test('a custom logger gets the warning of a lost leader (SIGKILL); the console gets nothing', { timeout: 60_000 }, async () => {
    const { leader, follower } = await pair(envWith(), { reportRoleEvents: true });
    await leader.kill('SIGKILL');
    live.delete(leader);
    await within(follower.waitFor(m => m.event === 'log' && /lost its leader/.test(String(m.message))), 30_000, () => 'the lost-leader warning reaches the logger');
    await within(follower.waitRoleEvents(6), 30_000, () => 'the follower takes over');
    assert.ok(follower.logs('warn').some(line => line.includes('[cluster-share]') && line.includes('"FixtureClient" lost its leader')), `the warning names the client: ${JSON.stringify(follower.logs())}`);
    await closeAndDrain(follower);
    assert.doesNotMatch(follower.stderr, /cluster-share/i, `nothing of cluster-share on the console:\n${follower.stderr}`);
  });

  test('the default logger writes the lost-leader warning to the console (stderr)', { timeout: 60_000 }, async () => {
    const { leader, follower } = await pair(envWith(), { defaultLogger: true, reportRoleEvents: true });
    await leader.kill('SIGKILL');
    live.delete(leader);
    await within(follower.waitStderr(/\[cluster-share\] "FixtureClient" lost its leader/), 30_000, () => 'the warning on stderr');
    await within(follower.waitRoleEvents(6), 30_000, () => 'the follower takes over');
    assert.deepEqual(follower.logs(), [], 'with the default logger nothing goes to the fixture\'s logger');
    await closeAndDrain(follower);
  });

  test('a custom logger gets the info line of a handover; the console gets nothing', { timeout: 60_000 }, async () => {
    const { leader, follower } = await pair(envWith({ NODE_DEBUG: 'cluster-share' }), { logInfo: true, reportRoleEvents: true });
    await closeAndDrain(leader);
    await within(follower.waitFor(m => m.event === 'log' && m.level === 'info' && /the leader is closing/.test(String(m.message))), 30_000, () => 'the info line reaches the logger');
    await within(follower.waitRoleEvents(6), 30_000, () => 'the follower takes over');
    assert.deepEqual(follower.logs('warn'), [], 'a handover is no warning');
    await closeAndDrain(follower);
    assert.doesNotMatch(follower.stderr, /cluster-share/i, `NODE_DEBUG=cluster-share does not bypass a custom logger:\n${follower.stderr}`);
  });

  test('the default logger: info of a handover on stderr only with NODE_DEBUG=cluster-share', { timeout: 60_000 }, async () => {
    const withDebug = await pair(envWith({ NODE_DEBUG: 'cluster-share' }), { defaultLogger: true, reportRoleEvents: true });
    await closeAndDrain(withDebug.leader);
    const lines = await within(withDebug.follower.waitStderr(/the leader is closing/), 30_000, () => 'the info line on stderr');
    const info = debugLines(lines).filter(l => /the leader is closing/.test(l.message));
    assert.equal(info.length, 1, `one info line:\n${lines}`);
    assert.equal(info[0]!.section, 'CLUSTER-SHARE', 'the default logger\'s info is the cluster-share section');
    assert.equal(info[0]!.pid, withDebug.follower.pid);
    await within(withDebug.follower.waitRoleEvents(6), 30_000, () => 'the follower takes over');
    await closeAndDrain(withDebug.follower);

    const without = await pair(envWith(), { defaultLogger: true, reportRoleEvents: true });
    await closeAndDrain(without.leader);
    await within(without.follower.waitRoleEvents(6), 30_000, () => 'the follower takes over');
    await closeAndDrain(without.follower);
    assert.doesNotMatch(without.follower.stderr, /the leader is closing/, `no info line without NODE_DEBUG:\n${without.follower.stderr}`);
    assert.doesNotMatch(without.follower.stderr, /cluster-share/i, 'a handover writes nothing to the console');
  });
});
