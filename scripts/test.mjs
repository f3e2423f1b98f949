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
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=120000', ...files, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
