#!/usr/bin/env bash
# Install what nanococoa needs on a fresh Debian machine with Python 3.11: Debian's Chromium and
# Korean fonts (only when missing), then a virtualenv at .venv with the package (and test extras).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# the headless shell: what the ads and pages are typeset in (half the start-up work of the whole browser)
[ -x /usr/lib/chromium/chromium-headless-shell ] || [ -x /usr/bin/chromium-headless-shell ] || need+=(chromium-headless-shell)
for pkg in fonts-noto-cjk fonts-nanum fonts-nanum-extra fonts-woowa-bm; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version}"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${EXTRAS:-test}]"
