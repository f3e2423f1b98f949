// OpenTelemetry instrumentation of cluster-share, from its node:diagnostics_channel tracing
// (README "Tracing and diagnostics"). Load it once per process, in every process of the group:
//
//   calling side  tracing:cluster-share:invoke:*  a CLIENT span per delegated call; its context is
//                 injected (W3C traceparent / tracestate) into message.carrier, which cluster-share
//                 sends to the leader with the call
//   leader        tracing:cluster-share:serve:*   a SERVER span per call a follower sent, child of
//                 the context extracted from message.carrier
//
// It only needs @opentelemetry/api: the SDK, the context manager and the propagator are whatever
// the application registered (see otel-setup.mjs).
import dc from 'node:diagnostics_channel';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';

/** The span of each call: the channels publish the same message object for every event of one call. */
const spans = new WeakMap();

function finish(message) {
  const span = spans.get(message);
  if (!span) return;
  spans.delete(message);
  // A call made while electing learns where it went only when it is sent.
  span.setAttribute('cluster_share.role', message.role);
  if (message.leaderPid !== undefined) span.setAttribute('cluster_share.leader_pid', message.leaderPid);
  span.end();
}

function fail(message) {
  const span = spans.get(message);
  if (!span) return;
  const error = message.error;
  span.recordException(error instanceof Error ? error : { name: 'Error', message: String(error?.message ?? error) });
  span.setStatus({ code: SpanStatusCode.ERROR, message: String(error?.message ?? error) });
  if (error?.code !== undefined) span.setAttribute('error.type', String(error.code));
}

/** Subscribes; returns the function that unsubscribes. */
export function instrumentClusterShare({ tracer = trace.getTracer('cluster-share-otel-example') } = {}) {
  const invoke = {
    start(message) {
      const parent = context.active(); // the caller's context: start runs inside the call
      const span = tracer.startSpan(`${message.name}/${message.method}`, {
        kind: SpanKind.CLIENT,
        attributes: rpcAttributes(message),
      }, parent);
      spans.set(message, span);
      propagation.inject(trace.setSpan(parent, span), message.carrier);
    },
    // A oneway call has no answer: start and end only.
    end(message) {
      if (message.oneway) finish(message);
    },
    asyncStart() {},
    asyncEnd: finish,
    error: fail,
  };
  const serve = {
    start(message) {
      // The caller's context, from the carrier (an empty carrier, e.g. from a cluster-client 3.x
      // follower, gives a root span).
      const parent = propagation.extract(ROOT_CONTEXT, message.carrier);
      const span = tracer.startSpan(`${message.name}/${message.method}`, {
        kind: SpanKind.SERVER,
        attributes: {
          ...rpcAttributes(message),
          ...(message.followerPid !== undefined ? { 'cluster_share.follower_pid': message.followerPid } : {}),
        },
      }, parent);
      spans.set(message, span);
    },
    end() {},
    asyncStart() {},
    asyncEnd: finish,
    error: fail,
  };
  const invokeChannel = dc.tracingChannel('cluster-share:invoke');
  const serveChannel = dc.tracingChannel('cluster-share:serve');
  invokeChannel.subscribe(invoke);
  serveChannel.subscribe(serve);
  return () => {
    invokeChannel.unsubscribe(invoke);
    serveChannel.unsubscribe(serve);
  };
}

/** The span attributes both sides share (OpenTelemetry's RPC conventions). */
function rpcAttributes(message) {
  return {
    'rpc.system': 'cluster-share',
    'rpc.service': message.name,
    'rpc.method': message.method,
    'cluster_share.oneway': message.oneway,
    'process.pid': message.pid,
  };
}
