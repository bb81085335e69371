#!/bin/sh
# The README's first command: on a fresh Debian machine, as root, from a clone of this project.
# Installs what is needed, ensures an engine, builds the CLI and the level image, and runs the
# spinning-top demo: a depth-4 nest whose innermost level serves a page on the host.
set -eu
cd "$(dirname "$0")/.."

sh scripts/ensure-engine.sh
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
node bin/run.js build
exec node bin/run.js demo "$@"
