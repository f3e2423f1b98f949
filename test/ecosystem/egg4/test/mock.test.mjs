// egg 4 with @eggjs/mock: mm.app() and mm.cluster(); see shared/egg-mock-suite.mjs.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mm } from '@eggjs/mock';
import { eggMockSuite } from '../../shared/egg-mock-suite.mjs';

eggMockSuite({
  projectDir: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'),
  label: 'egg4',
  mm,
});
