// Scenario 5 — memory: RSS of a follower process under the invoke load, and RSS of a leader
// with 50 followers connected; cluster-share, cluster-client 3.7.0 and a bare socket, in one run.
//
//   npm run bench:memory                 (builds first)
//   node benchmark/memory.mjs [--quick] [--impl LIST] [--many M] [--calls C]
//
// Followers: per implementation a fresh group of 1 leader + 3 followers. Each follower runs the
// invoke warm-up (echo of a 64 B string, 16 calls in flight, 500 ms), then its RSS is read;
// then exactly C more calls (default 10,000, 16 in flight), and its RSS is read again. The table
// shows the median over the 3 followers, and "node alone": the RSS of the same process before it
// loaded any library.
//
// Leader: a fresh leader alone (RSS read once it is ready), then M follower processes (default
// 50) forked at once; each only creates its client, waits for ready and makes one call (nothing
// else is loaded: they are as light as a node process with the library gets). Once all are
// ready the leader's RSS is read again.
import {
  COMMON_USAGE, Group, IMPL_LABEL, fmtMB, fmtRatio, median, nowUs, parseOptions, printMachine, printTable, ratio,
  runIfMain, sleep, writeResult,
} from './lib/harness.mjs';

export const USAGE = `usage: node benchmark/memory.mjs [options]
  --many M         followers connected to the leader for its RSS (default 50; --quick 20)
  --calls C        calls per follower after the warm-up (default 10000)
${COMMON_USAGE}`;

const rssOf = async member => (await member.request('rss')).rss;

async function followerMemory(impl, { calls, warmupMs }) {
  const group = await Group.start(impl, 3);
  try {
    const atStart = median(group.followers.map(f => f.info.rssAtStart));
    const atReady = median(group.followers.map(f => f.info.rss));
    await Promise.all(group.followers.map(f => f.request('load', { payloadSize: 64, inflight: 16, startAt: nowUs() + 60_000, warmupUs: 0, durationUs: warmupMs * 1000 })));
    const afterWarmup = await Promise.all(group.followers.map(rssOf));
    const runs = await Promise.all(group.followers.map(f => f.request('calls', { calls, payloadSize: 64, inflight: 16 })));
    const afterCalls = await Promise.all(group.followers.map(rssOf));
    const errors = runs.reduce((n, r) => n + r.bad + Object.values(r.errors).reduce((a, b) => a + b, 0), 0);
    return {
      nodeAloneRss: atStart,
      readyRss: atReady,
      afterWarmupRss: median(afterWarmup),
      afterCallsRss: median(afterCalls),
      afterCallsMaxRss: Math.max(...afterCalls),
      leaderRss: await rssOf(group.leader),
      errors,
    };
  } finally {
    await group.stop();
  }
}

async function leaderMemory(impl, many) {
  const group = await Group.start(impl, 0);
  try {
    await sleep(200);
    const alone = await rssOf(group.leader);
    await group.addFollowers(many);
    await sleep(300);
    const withFollowers = await rssOf(group.leader);
    return {
      aloneRss: alone,
      withFollowersRss: withFollowers,
      followerReadyRss: median(group.followers.map(f => f.info.rss)),
      totalRss: withFollowers + group.followers.reduce((n, f) => n + f.info.rss, 0),
    };
  } finally {
    await group.stop();
  }
}

export async function run({ quick = false, impls, many, calls = 10_000 }) {
  const followersMany = many ?? (quick ? 20 : 50);
  const warmupMs = quick ? 200 : 500;
  console.log(`\n== memory: follower RSS after ${warmupMs} ms of invoke warm-up and after ${calls} more calls; leader RSS with ${followersMany} followers`);
  const followers = {};
  const leader = {};
  for (const impl of impls) {
    process.stdout.write(`  ${impl}: followers`);
    followers[impl] = await followerMemory(impl, { calls, warmupMs });
    process.stdout.write(`, leader + ${followersMany}\n`);
    leader[impl] = await leaderMemory(impl, followersMany);
  }
  const ratios = {
    followerClusterShareVsClusterClient: ratio(followers['cluster-share']?.afterCallsRss, followers['cluster-client']?.afterCallsRss),
    followerClusterShareVsBare: ratio(followers['cluster-share']?.afterCallsRss, followers.bare?.afterCallsRss),
    leaderClusterShareVsClusterClient: ratio(leader['cluster-share']?.withFollowersRss, leader['cluster-client']?.withFollowersRss),
    leaderClusterShareVsBare: ratio(leader['cluster-share']?.withFollowersRss, leader.bare?.withFollowersRss),
  };
  const rows = impls.map(impl => [IMPL_LABEL[impl], fmtMB(followers[impl].nodeAloneRss), fmtMB(followers[impl].readyRss),
    fmtMB(followers[impl].afterWarmupRss), fmtMB(followers[impl].afterCallsRss), String(followers[impl].errors)]);
  if (ratios.followerClusterShareVsClusterClient !== null) rows.push(['  cluster-share / cluster-client', '', '', '', fmtRatio(ratios.followerClusterShareVsClusterClient), '']);
  if (ratios.followerClusterShareVsBare !== null) rows.push(['  cluster-share / bare socket', '', '', '', fmtRatio(ratios.followerClusterShareVsBare), '']);
  printTable('memory — follower RSS (median of 3 followers; 1 leader + 3 followers, echo of 64 B, 16 in flight)',
    ['implementation', 'node alone', 'ready', 'after warm-up', `after +${calls / 1000}k calls`, 'errors'], rows,
    { note: 'node alone: the same process before it loaded any library' });
  const lrows = impls.map(impl => [IMPL_LABEL[impl], fmtMB(leader[impl].aloneRss), fmtMB(leader[impl].withFollowersRss),
    fmtMB(leader[impl].withFollowersRss - leader[impl].aloneRss), fmtMB(leader[impl].followerReadyRss), fmtMB(leader[impl].totalRss)]);
  if (ratios.leaderClusterShareVsClusterClient !== null) lrows.push(['  cluster-share / cluster-client', '', fmtRatio(ratios.leaderClusterShareVsClusterClient), '', '', '']);
  if (ratios.leaderClusterShareVsBare !== null) lrows.push(['  cluster-share / bare socket', '', fmtRatio(ratios.leaderClusterShareVsBare), '', '', '']);
  printTable(`memory — leader RSS alone and with ${followersMany} follower processes connected`,
    ['implementation', 'leader alone', `leader + ${followersMany}`, 'difference', 'one follower', `all ${followersMany + 1} processes`], lrows,
    { note: 'lower is better; one follower: median RSS of a follower process once ready (client + one call)' });
  return { scenario: 'memory', config: { calls, warmupMs, many: followersMany, followers: 3 }, followers, leader, ratios };
}

runIfMain(import.meta.url, async () => {
  const opts = parseOptions(USAGE, {
    many: { type: 'string' },
    calls: { type: 'string', default: '10000' },
  });
  printMachine();
  const result = await run({
    quick: opts.quick,
    impls: opts.impls,
    many: opts.many === undefined ? undefined : Number(opts.many),
    calls: Number(opts.calls),
  });
  console.log(`\nresults written to ${writeResult('memory', result)}`);
});
