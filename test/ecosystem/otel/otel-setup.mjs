// The OpenTelemetry SDK as an application would register it, with one exporter of our own: every
// finished span is appended to a file as one JSON line (both processes write to the same file).
import fs from 'node:fs';
import { SpanKind, context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, W3CTraceContextPropagator, hrTimeToMilliseconds } from '@opentelemetry/core';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

class JsonLinesExporter {
  constructor(file) {
    this.file = file;
  }

  export(spans, done) {
    const lines = spans.map(span => JSON.stringify({
      pid: process.pid,
      name: span.name,
      kind: SpanKind[span.kind],
      traceId: span.spanContext().traceId,
      spanId: span.spanContext().spanId,
      parentSpanId: span.parentSpanContext?.spanId,
      attributes: span.attributes,
      status: span.status,
      events: span.events.map(e => ({ name: e.name, attributes: e.attributes })),
      startMs: hrTimeToMilliseconds(span.startTime),
      durationMs: hrTimeToMilliseconds(span.duration),
    }));
    // One append per batch: O_APPEND, so the lines of the two processes do not mix.
    fs.appendFileSync(this.file, lines.map(line => `${line}\n`).join(''));
    done({ code: ExportResultCode.SUCCESS });
  }

  async shutdown() {}
}

/** Registers the SDK globally; call `provider.shutdown()` before exiting (it flushes). */
export function setupTracing(spansFile) {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new JsonLinesExporter(spansFile))] });
  trace.setGlobalTracerProvider(provider);
  return provider;
}
