'use strict';
// Which package a file belongs to: used in the egg processes (shared/egg-app.cjs) and by the test
// runner's resolution proof (shared/harness.mjs). Only node: built-ins.
const fs = require('node:fs');
const path = require('node:path');

/** The nearest package.json with a "name" above `file`: { name, version, dir } (all null if there is none). */
exports.ownerPackage = function ownerPackage(file) {
  let dir = path.dirname(file);
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (fs.existsSync(candidate)) {
      const pkg = JSON.parse(fs.readFileSync(candidate, 'utf8'));
      if (pkg.name) return { name: pkg.name, version: pkg.version, dir };
    }
    const parent = path.dirname(dir);
    if (parent === dir) return { name: null, version: null, dir: null };
    dir = parent;
  }
};
