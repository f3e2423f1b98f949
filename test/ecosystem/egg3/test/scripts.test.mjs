// egg 3 in production mode, started with egg-scripts: see shared/egg-scripts-suite.mjs.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eggScriptsSuite } from '../../shared/egg-scripts-suite.mjs';

eggScriptsSuite({
  projectDir: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'),
  label: 'egg3',
  scriptsBin: 'node_modules/egg-scripts/bin/egg-scripts.js',
  scripts: 'egg-scripts',
  appName: 'eco-egg3',
});
