#!/usr/bin/env bash
# Install what the tests need (Debian Chromium + Korean fonts, the package with its test and gpu extras, Node
# and the MCP Inspector in .tools/node, PostgreSQL and SeaweedFS for the real-server tests), then run them.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${EXTRAS:-test,gpu}" bash scripts/setup.sh  # the model backends' tests run tiny models on the CPU
bash scripts/setup_node.sh
bash scripts/setup_services.sh  # PostgreSQL and an S3 server for the tests that start real ones
echo "test.sh: installing took ${SECONDS} s; the checks and the suite follow (pytest prints its own time)"
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/lint-imports --no-cache  # the house's import rules (pyproject.toml)
# Two processes (TEST_PROCESSES=0 for one), each test file kept in one (module fixtures start servers once).
.venv/bin/python -m pytest -q -n "${TEST_PROCESSES:-2}" --dist loadfile "$@"
