// The steps every config-watching example checks, whatever its process model: the members
// (started by the example, running config-member.mjs) are ready with exactly one leader, the
// config server saw one connection, every member read the same value, and a change pushed by
// the server reached every member. Each step prints what it saw and fails the example if it is
// not what it should be.
import { isDeepStrictEqual } from 'node:util';
import { KEY } from './config-member.mjs';
import { fail } from './supervisor.mjs';

export { KEY };
export const INITIAL = { feature: false };
export const CHANGED = { feature: true };

const show = value => JSON.stringify(value);
const sawChange = m => m.all('change').some(c => isDeepStrictEqual(c.value, CHANGED));

/**
 * Waits until every member is ready and prints each one's role. Fails unless exactly one
 * leads. Returns `{ leader, followers }`.
 */
export async function waitForRoles(group, members, timeout = 30_000) {
  await group.waitEach(members, m => m.last('ready') !== undefined, timeout, 'become ready');
  const leaders = members.filter(m => m.last('ready').leader);
  const followers = members.filter(m => !m.last('ready').leader);
  if (leaders.length !== 1) fail(`expected exactly 1 leader, got ${leaders.length}: ${leaders.map(m => m.name).join(', ')}`);
  console.log(`${leaders[0].name} ready: LEADER (holds the only upstream connection)`);
  for (const m of followers) console.log(`${m.name} ready: follower`);
  return { leader: leaders[0], followers };
}

/** Fails unless the config server accepted exactly one connection, still open. */
export function checkOneUpstreamConnection(server, members, unit = 'processes') {
  const { accepted, open } = server.stats();
  console.log(`upstream connections seen by the config server: ${accepted} (${members.length} ${unit})`);
  if (accepted !== 1 || open !== 1) fail(`expected 1 upstream connection, the config server accepted ${accepted} (${open} open)`);
  return accepted;
}

/** Fails unless getConfig(KEY) returned INITIAL in every member. */
export function checkInitialValue(members, unit = 'worker') {
  const differing = members.filter(m => !isDeepStrictEqual(m.last('ready').value, INITIAL));
  if (differing.length > 0) fail(`getConfig('${KEY}') returned ${show(differing[0].last('ready').value)} in ${differing[0].name}, expected ${show(INITIAL)}`);
  console.log(`getConfig('${KEY}') from every ${unit} → ${show(INITIAL)}`);
}

/** The server changes KEY to CHANGED; waits until every member received it (fails after `timeout`). */
export async function pushChange(group, server, members, timeout = 10_000) {
  const printed = new Set();
  const told = server.set(KEY, CHANGED);
  console.log(`config server pushes ${KEY} = ${show(CHANGED)} (to ${told} connection)`);
  await group.waitUntil(
    () => {
      // Print each member's change as it arrives (every message re-runs this check).
      for (const m of members) {
        if (sawChange(m) && !printed.has(m)) {
          printed.add(m);
          console.log(`  ${m.name} received ${show(CHANGED)}`);
        }
      }
      return printed.size === members.length;
    },
    timeout,
    () => `within ${timeout / 1000} s these did not receive the change: ${members.filter(m => !sawChange(m)).map(m => m.name).join(', ')}`,
  );
  return told;
}

/**
 * The whole config-watching scenario once the members are started: one leader, one upstream
 * connection, one value, a change that reaches everyone, then a graceful shutdown (followers
 * first, so the leader's exit does not start an election). Returns the RESULT fields.
 */
export async function runConfigScenario(group, server, members, { what = 'workers', unit = 'worker', units = 'processes', check } = {}) {
  const { leader, followers } = await waitForRoles(group, members);
  // What this example checks or shows besides (e.g. that the agent leads).
  await check?.({ leader, followers });
  const upstreamConnections = checkOneUpstreamConnection(server, members, units);
  checkInitialValue(members, unit);
  const pushedTo = await pushChange(group, server, members);
  await group.close(followers);
  await group.close([leader]);
  console.log(`all ${members.length} ${what} closed and exited with code 0`);
  await server.close();
  return summarize(members, { leader, upstreamConnections, pushedTo });
}

/** What the RESULT line says about the members, counted from what they reported. */
export function summarize(members, { leader, upstreamConnections, pushedTo }) {
  return {
    members: members.length,
    leaders: members.filter(m => m.last('ready')?.leader).length,
    leader: { name: leader.name, pid: leader.last('ready').pid, threadId: leader.last('ready').threadId },
    pids: new Set(members.map(m => m.last('ready').pid)).size,
    upstreamConnections,
    pushedTo,
    readInitial: members.filter(m => isDeepStrictEqual(m.last('ready').value, INITIAL)).length,
    sawChange: members.filter(sawChange).length,
    exitCodes: members.map(m => m.exit?.code ?? null),
  };
}
