#!/usr/bin/env bash
# Runs the test suite (already built by `npm test`) on every Node line that package.json
# "engines" allows and that this machine's node is not: 18 (the lowest), 20, 22 and 24, each
# from npm's `node` package (a real Node binary), installed under .ci/nodes/.
set -euo pipefail
cd "$(dirname "$0")/.."
own=$(node -p 'process.versions.node.split(".")[0]')
for major in 18 20 22 24; do
  [ "$major" = "$own" ] && continue
  dir=".ci/nodes/$major"
  if [ ! -x "$dir/node_modules/node/bin/node" ]; then
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --no-package-lock "node@$major" >/dev/null
  fi
  bin="$dir/node_modules/node/bin/node"
  echo "== test suite on Node $("$bin" --version)"
  "$bin" scripts/test.mjs
done
