// Codec benchmark: encode + decode time and encoded size of serialize-json (what cluster-client
// 3.x speaks), JSON, node:v8 serialize and tagged-v1 for typical values.
//
//   npm run bench:codec                 # build, then run
//   node benchmark/codec.mjs            # after `npm run build`
//   node benchmark/codec.mjs --time=300 # milliseconds measured per cell (default 150)
//
// Each cell: a warm-up, then an iteration count chosen so the cell is measured for about
// --time ms (3 samples, the median is shown). A cell is marked "(lossy)" when the codec does not
// give the value back: util.isDeepStrictEqual(decode(encode(value)), value) is false.
import os from 'node:os';
import util from 'node:util';
import v8 from 'node:v8';
import { serializeJsonCodec, taggedCodec } from '../dist/esm/index.js';
import { bytes, text } from './lib/values.mjs';

const timeArg = process.argv.find(arg => arg.startsWith('--time='));
const TARGET_MS = timeArg ? Number(timeArg.slice('--time='.length)) : 150;
if (!Number.isFinite(TARGET_MS) || TARGET_MS <= 0) throw new Error(`bad --time: ${timeArg}`);
const SAMPLES = 3;
const WARMUP_MS = Math.min(50, TARGET_MS / 3);

// ---------------------------------------------------------------------------------------------
// Codecs

const codecs = [
  { name: 'serialize-json', encode: v => serializeJsonCodec.encode(v), decode: b => serializeJsonCodec.decode(b) },
  { name: 'JSON', encode: v => Buffer.from(JSON.stringify(v)), decode: b => JSON.parse(b.toString()) },
  { name: 'v8', encode: v => v8.serialize(v), decode: b => v8.deserialize(b) },
  { name: 'tagged-v1', encode: v => taggedCodec.encode(v), decode: b => taggedCodec.decode(b) },
];

// ---------------------------------------------------------------------------------------------
// Values (deterministic, so sizes are the same on every run)

function kibObject() {
  const obj = { id: 1024, name: 'registry-client', host: '10.0.0.1', port: 8080, healthy: true, weight: 0.75 };
  for (let i = 0; JSON.stringify(obj).length < 1000; i++) obj[`field${i}`] = i % 3 === 0 ? i * 1.5 : `value-${i}-${text(12)}`;
  // Adding 35 keys one by one leaves V8 with a slow dictionary-mode object; a parsed one (as
  // values arriving from a socket are) has fast properties.
  return JSON.parse(JSON.stringify(obj));
}

const DATE = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678));

const kinds = [
  { name: 'string 64 B', value: text(64) },
  { name: 'small object (~64 B JSON)', value: { id: 42, name: 'app.json', ok: true, tags: ['a', 'b'], v: 1.5 } },
  { name: 'object 1 KiB', value: kibObject() },
  { name: 'string 16 KiB', value: text(16 * 1024) },
  { name: 'Buffer 16 KiB', value: bytes(16 * 1024) },
  { name: 'Date', value: DATE },
  { name: 'object with Date + Buffer', value: { id: 7, key: 'service', at: DATE, payload: bytes(64), meta: { tags: ['x', 'y'], n: 3 } } },
  { name: 'Map, 100 entries', value: new Map(Array.from({ length: 100 }, (_, i) => [`key-${i}`, { n: i, s: `v${i}` }])) },
  { name: 'string 100 KB', value: text(100_000) },
  { name: 'array of 1000 numbers', value: Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? i * 7 : i / 8)) },
];

// ---------------------------------------------------------------------------------------------
// Measurement

let sink = 0; // keeps results alive so the work is not optimized away

function runBatch(codec, value, n) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const decoded = codec.decode(codec.encode(value));
    if (decoded === sink) sink++;
  }
  return Number(process.hrtime.bigint() - start);
}

/** ns per encode+decode: warm up, pick n so a sample takes TARGET_MS / SAMPLES, median of SAMPLES. */
function measure(codec, value) {
  let n = 1;
  let elapsed = 0;
  const warmupEnd = performance.now() + WARMUP_MS;
  while (performance.now() < warmupEnd || elapsed < 1e6) {
    elapsed = runBatch(codec, value, n);
    if (elapsed < 1e6) n *= 2;
  }
  const perOp = elapsed / n;
  const iterations = Math.max(1, Math.round((TARGET_MS * 1e6) / SAMPLES / perOp));
  const samples = [];
  for (let s = 0; s < SAMPLES; s++) samples.push(runBatch(codec, value, iterations) / iterations);
  samples.sort((a, b) => a - b);
  return samples[Math.floor(SAMPLES / 2)];
}

function evaluate(codec, value) {
  let encoded;
  let lossy;
  try {
    encoded = codec.encode(value);
    lossy = !util.isDeepStrictEqual(codec.decode(encoded), value);
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
  return { ns: measure(codec, value), bytes: encoded.length, lossy };
}

// ---------------------------------------------------------------------------------------------
// Table

const fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const CELL = 30;

function cell(result) {
  if (result.error) return 'error'.padStart(CELL);
  const ns = fmt.format(result.ns).padStart(12);
  const size = fmt.format(result.bytes).padStart(9);
  return ` ${ns}${size}${result.lossy ? ' (lossy)' : ''}`.padEnd(CELL);
}

/** serialize-json / tagged-v1 time and size; n/a when either failed or lost the value. */
function ratios(sj, tagged) {
  if (sj.error || tagged.error) return ['n/a', 'n/a'];
  if (sj.lossy || tagged.lossy) return ['(lossy)', ''];
  return [`${(sj.ns / tagged.ns).toFixed(1)}x`, `${(sj.bytes / tagged.bytes).toFixed(2)}x`];
}

const KIND_WIDTH = Math.max(...kinds.map(k => k.name.length)) + 2;
console.log(`codec benchmark: encode + decode, ns/op (median of ${SAMPLES} samples, ~${TARGET_MS} ms per cell) and encoded bytes`);
console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.platform()}/${os.arch()}`);
console.log('');
const header1 = 'value'.padEnd(KIND_WIDTH) + codecs.map(c => `| ${c.name.padEnd(CELL - 1)}`).join('') + '| tag | sj/tagged';
const header2 = ''.padEnd(KIND_WIDTH) + codecs.map(() => `|${'ns/op'.padStart(13)}${'bytes'.padStart(9)}`.padEnd(CELL + 1)).join('') + '|     |  time   size';
console.log(header1);
console.log(header2);
console.log('-'.repeat(header1.length));

for (const kind of kinds) {
  const results = codecs.map(codec => evaluate(codec, kind.value));
  const sj = results[0];
  const tagged = results[codecs.length - 1];
  const tag = String.fromCharCode(taggedCodec.encode(kind.value)[0]);
  const [timeRatio, sizeRatio] = ratios(sj, tagged);
  console.log(kind.name.padEnd(KIND_WIDTH) + results.map(r => `|${cell(r)}`).join('') + `|  ${tag}  | ${timeRatio.padStart(6)} ${sizeRatio.padStart(6)}`);
}
console.log('');
console.log('(lossy): decode(encode(value)) is not deepStrictEqual to value (e.g. JSON turns a Buffer into');
console.log('{ type, data } and a Date into a string; serialize-json turns a Map into {}).');
console.log("tag: the tagged-v1 tag byte chosen: s string, b Buffer, d Date, j JSON, v v8, S serialize-json, u undefined.");
console.log('sj/tagged: serialize-json time / tagged-v1 time, and serialize-json bytes / tagged-v1 bytes.');
if (sink === -1) console.log(sink);
