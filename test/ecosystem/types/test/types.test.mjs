// The packed package's public types compile in a strict consumer (skipLibCheck: false, NodeNext)
// with the newest TypeScript and @types/node locked here, with TypeScript 5, and with
// @types/node 20, 22 and 24. Proves first that 'cluster-share' resolves to the packed copy.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(dir, 'package.json'));

function compile(tsc, typesDir) {
  const config = {
    compilerOptions: {
      strict: true, skipLibCheck: false, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true,
      types: ['node'], typeRoots: [typesDir],
    },
    files: ['test/esm.mts', 'test/cjs.cts'],
  };
  const file = path.join(dir, `tsconfig.${path.basename(path.dirname(typesDir))}.${path.basename(tsc.split('/node_modules/')[1].split('/')[0])}.json`);
  fs.writeFileSync(file, JSON.stringify(config));
  try {
    return execFileSync(process.execPath, [tsc, '-p', file], { cwd: dir, encoding: 'utf8' });
  } catch (err) {
    assert.fail(`${path.basename(file)}:\n${err.stdout}${err.stderr}`);
  } finally {
    fs.rmSync(file);
  }
}

/** A typeRoots folder whose "node" is the given @types/node package. */
function typesRoot(pkg) {
  const root = path.join(dir, 'node_modules', '.types-roots', pkg);
  fs.mkdirSync(root, { recursive: true });
  const link = path.join(root, 'node');
  if (!fs.existsSync(link)) fs.symlinkSync(path.join(dir, 'node_modules', pkg), link, 'dir');
  return root;
}

test('cluster-share resolves to the packed package (not the checkout)', () => {
  const pkgFile = require.resolve('cluster-share/package.json');
  assert.equal(JSON.parse(fs.readFileSync(pkgFile, 'utf8')).name, 'cluster-share');
  assert.ok(!fs.lstatSync(path.dirname(pkgFile)).isSymbolicLink(), 'a packed copy, as from the registry');
  assert.ok(!fs.existsSync(path.join(path.dirname(pkgFile), 'src')), 'no sources shipped');
});

const tsNewest = path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
const ts5 = path.join(dir, 'node_modules', 'typescript-5', 'bin', 'tsc');
for (const [label, tsc, types] of [
  [`TypeScript ${require('typescript/package.json').version}, @types/node ${require('@types/node/package.json').version}`, tsNewest, '@types/node'],
  [`TypeScript ${require('typescript-5/package.json').version}, @types/node ${require('@types/node/package.json').version}`, ts5, '@types/node'],
  ['newest TypeScript, @types/node 20', tsNewest, 'types-node-20'],
  ['newest TypeScript, @types/node 22', tsNewest, 'types-node-22'],
  ['newest TypeScript, @types/node 24', tsNewest, 'types-node-24'],
]) {
  test(`the public types compile: ${label}`, () => {
    compile(tsc, types === '@types/node' ? path.join(dir, 'node_modules', '@types') : typesRoot(types));
  });
}
