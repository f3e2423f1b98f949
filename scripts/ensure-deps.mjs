// Installs the dependencies with `npm ci` when this clone has none yet, or when package-lock.json
// changed since they were installed. `npm run example` and `npm test` start with it, so each of
// them works on a fresh clone by itself.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lock = join(root, 'package-lock.json');
// npm writes this file at the end of every install.
const installed = join(root, 'node_modules', '.package-lock.json');

if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
  console.log('cluster-share: installing the dependencies (npm ci)');
  // Under `npm run`, npm_execpath is npm's own CLI script; otherwise use npm from the PATH.
  const npm = process.env.npm_execpath;
  if (npm) execFileSync(process.execPath, [npm, 'ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  else execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
}
