// Micro-benchmark: src/protocol/serialize-json.ts against the serialize-json@1.0.3 package,
// encode and decode ops/s for a few typical values (bytes are checked identical first).
//
//   npm run build && node benchmark/serialize-json.mjs
//   node benchmark/serialize-json.mjs --time=500          # ms measured per cell (default 300)
//   node benchmark/serialize-json.mjs --module=path.js    # another build of the module
//
// Each cell: a warm-up, then the best of 5 samples of about --time/5 ms each.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bytes, text } from './lib/values.mjs';

const arg = name => process.argv.find(a => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const TIME_MS = Number(arg('time') ?? 300);
const candidates = [arg('module'), '../dist/esm/protocol/serialize-json.js', '../.test-build/src/protocol/serialize-json.js'].filter(Boolean);
const modulePath = candidates.map(p => (p.startsWith('.') ? fileURLToPath(new URL(p, import.meta.url)) : p)).find(p => existsSync(p));
if (!modulePath) throw new Error('build first: npm run build (or npx tsc -p tsconfig.test.json)');
const ours = await import(pathToFileURL(modulePath).href);
const require = createRequire(createRequire(import.meta.url).resolve('cluster-client/package.json'));
const pkg = require('serialize-json');

const small = () => ({ id: 1024, name: 'registry-client', host: '10.0.0.1', port: 8080, healthy: true, weight: 0.75, tags: ['a', 'b'] });
const values = {
  'small object': small(),
  '16 KiB string': text(16 * 1024),
  '1000 small objects': Array.from({ length: 1000 }, (_, i) => ({ ...small(), id: i, name: `client-${i}` })),
  'Buffer 1 KiB + Date': { id: 'blob-1', data: bytes(1024), at: new Date(1700000000000), size: 1024 },
};

function opsPerSecond(fn) {
  const warmEnd = performance.now() + Math.min(100, TIME_MS / 3);
  let n = 0;
  while (performance.now() < warmEnd) {
    fn();
    n++;
  }
  const sampleMs = TIME_MS / 5;
  const batch = Math.max(1, Math.round(n / 5));
  let best = 0;
  for (let s = 0; s < 5; s++) {
    let ops = 0;
    const start = performance.now();
    let elapsed = 0;
    do {
      for (let i = 0; i < batch; i++) fn();
      ops += batch;
      elapsed = performance.now() - start;
    } while (elapsed < sampleMs);
    best = Math.max(best, (ops * 1000) / elapsed);
  }
  return best;
}

const fmt = n => (n >= 1e5 ? `${(n / 1e3).toFixed(0)}k` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0));
console.log(`node ${process.version}, ${modulePath}`);
console.log(`${'value'.padEnd(20)} ${'bytes'.padStart(7)}  ${'encode pkg'.padStart(10)} ${'ours'.padStart(8)} ${'x'.padStart(6)}  ${'decode pkg'.padStart(10)} ${'ours'.padStart(8)} ${'x'.padStart(6)}`);
for (const [name, value] of Object.entries(values)) {
  const encoded = pkg.encode(value);
  if (!ours.encode(value).equals(encoded)) throw new Error(`${name}: encode differs`);
  const encPkg = opsPerSecond(() => pkg.encode(value));
  const encOurs = opsPerSecond(() => ours.encode(value));
  const decPkg = opsPerSecond(() => pkg.decode(encoded));
  const decOurs = opsPerSecond(() => ours.decode(encoded));
  console.log(
    `${name.padEnd(20)} ${String(encoded.length).padStart(7)}  ${fmt(encPkg).padStart(10)} ${fmt(encOurs).padStart(8)} ${(encOurs / encPkg).toFixed(1).padStart(5)}x  ${fmt(decPkg).padStart(10)} ${fmt(decOurs).padStart(8)} ${(decOurs / decPkg).toFixed(1).padStart(5)}x`,
  );
}
