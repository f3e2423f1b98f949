/**
 * cluster-share: many Node.js processes on one host share ONE connection-holding client.
 * A drop-in for cluster-client 3.x.
 *
 * ESM: `import cluster, { APIClientBase, close } from 'cluster-share'`.
 * CommonJS: `const cluster = require('cluster-share')` is the callable `cluster` function with
 * `.close`, `.APIClientBase` and every other export attached.
 */
import { APIClientBase } from './api-client.js';
import { Base } from './base.js';
import { close, cluster, stats } from './cluster.js';
import { closeAll } from './client/cluster-client.js';
import { closeOnSignal } from './shutdown.js';
import * as errors from './errors.js';
import { DEFAULT_CONNECT_TIMEOUT, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_MAX_WAIT_TIME, DEFAULT_PORT, DEFAULT_RESPONSE_TIMEOUT } from './options.js';
import { serializeJsonCodec, taggedCodec } from './protocol/codec.js';
import { TRACING_CHANNELS } from './tracing.js';

export { cluster, close, ClientGenerator, stats } from './cluster.js';
export {
  AutoDelegates, CreatedClient, DataClientClass, DelegatedMethod, InvokeMethod, MethodKeys, MethodResult,
  OnewayMethod, PublishMethod, SubscribeMethod, UnSubscribeMethod,
} from './cluster.js';
export { APIClientBase } from './api-client.js';
export { Base } from './base.js';
export { BaseOptions, FirstEvent, Listener, ReadyCallback } from './base.js';
export { APIClientOptions } from './api-client.js';
export { ClusterClient, closeAll } from './client/cluster-client.js';
export { closeOnSignal, DEFAULT_SHUTDOWN_TIMEOUT } from './shutdown.js';
export { CloseOnSignalOptions } from './shutdown.js';
export { ClientState } from './client/cluster-client.js';
export { CallOptions, DelegateTarget } from './delegates.js';
export {
  ChannelStatus, ClientStats, ClusterClientEvents, ElectionEndEvent, ElectionReason, ElectionStartEvent, ElectionStats,
  FollowerStats, LeaderStatus, LeaderUnresponsiveEvent, TakenOverEvent, TakeoverEvent, Traffic,
} from './stats.js';
export {
  DEFAULT_CONNECT_TIMEOUT, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_LEADER_TIMEOUT, DEFAULT_MAX_LISTENERS, DEFAULT_MAX_WAIT_TIME, DEFAULT_PORT,
  DEFAULT_RESPONSE_TIMEOUT,
} from './options.js';
export { ClusterOptions, Logger, ResolvedOptions, Transcode } from './options.js';
export { AllowedUids } from './transport/peer-user.js';
export { TRACING_CHANNELS } from './tracing.js';
export {
  ElectionTraceMessage, InvokeTraceMessage, RoleTraceMessage, ServeTraceMessage, SubscriptionTraceMessage, TraceRole,
} from './tracing.js';
export { Codec } from './protocol/packet.js';
export { serializeJsonCodec, taggedCodec } from './protocol/codec.js';
export { NamedCodec } from './protocol/codec.js';
export * from './errors.js';

/** The default export: `cluster` with every other export attached, like `require('cluster-client')`. */
const clusterShare = Object.assign(cluster, {
  cluster,
  close,
  stats,
  closeAll,
  closeOnSignal,
  APIClientBase,
  Base,
  serializeJsonCodec,
  taggedCodec,
  DEFAULT_PORT,
  DEFAULT_MAX_WAIT_TIME,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_RESPONSE_TIMEOUT,
  DEFAULT_HEARTBEAT_INTERVAL,
  TRACING_CHANNELS,
  ...errors,
});

export default clusterShare;
