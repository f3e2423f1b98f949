// One worker process of the child_process demo (run.mjs forks several). Every worker runs the
// same code, config-member.mjs: it wraps ConfigClient with cluster() and uses it as if it owned
// it; cluster-share decides which process really constructs ConfigClient (the leader).
//
// Environment: CLUSTER_SHARE_PORT (the port the processes compete for), CONFIG_HOST and
// CONFIG_PORT (the config server). Reports to the parent with process.send (see
// config-member.mjs) and closes when the parent sends { cmd: 'close' } (or goes away).
import { processChannel, runConfigMember } from './config-member.mjs';

await runConfigMember({
  channel: processChannel(),
  clusterPort: Number(process.env.CLUSTER_SHARE_PORT),
  config: { host: process.env.CONFIG_HOST, port: Number(process.env.CONFIG_PORT) },
});
