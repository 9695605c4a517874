#!/usr/bin/env bash
# Install what the tests need (Debian Chromium + Korean fonts, the package with test extras, Node and the MCP
# Inspector in .tools/node), then run them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_node.sh
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
