// egg 4 (an ES module application) in production mode, started with @eggjs/scripts:
// see shared/egg-scripts-suite.mjs.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eggScriptsSuite } from '../../shared/egg-scripts-suite.mjs';

eggScriptsSuite({
  projectDir: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'),
  label: 'egg4',
  scriptsBin: 'node_modules/@eggjs/scripts/bin/run.js',
  scripts: 'eggctl',
  appName: 'eco-egg4',
  esm: true,
});
