// Runs the compiled test files (.test-build/**/*.test.js) with node's test runner.
// Files are listed explicitly: given a directory, Node 20 would also run every .js file under
// a folder named "test" (fixtures and helpers included).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = '.test-build/test';
const files = readdirSync(root, { recursive: true })
  .map(String)
  .filter(file => file.endsWith('.test.js'))
  .map(file => join(root, file))
  .sort();
// --test-concurrency and --test-timeout exist from Node 20.11 (21.2); on older versions every
// suite's own timeouts apply and files run with the default concurrency.
const [major, minor] = process.versions.node.split('.').map(Number);
const modern = major > 20 || (major === 20 && minor >= 11);
const flags = modern ? ['--test-concurrency=2', '--test-timeout=120000'] : [];
const result = spawnSync(process.execPath, ['--test', ...flags, ...files, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
