#!/usr/bin/env bash
# `npm run demo`: sets the machine up if needed (Debian packages, npm ci), starts the local services under
# KADI_HOME (default ./var) and runs the end-to-end demo on the embedded defaults. Extra arguments are passed
# to `kadi demo` (e.g. `npm run demo -- --count 500`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || ! bash scripts/setup.sh --check >/dev/null 2>&1; then
  bash scripts/setup.sh
fi
export KADI_HOME="${KADI_HOME:-$PWD/var}"
bash scripts/services.sh start all
# the URLs, socket and token of the services just started (ports may be changed with KADI_REDIS_PORT etc.)
eval "$(bash scripts/services.sh env all)"
exec node bin/kadi.mjs demo "$@"
