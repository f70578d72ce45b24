#!/usr/bin/env bash
# Run OpenStack's own conformance suite, Tempest, against a fresh `overcast up`.
#
#   scripts/tempest.sh [REGEX] [--real] [--smoke|--ci] [--concurrency N] [--keep]
#                      [--skip-known] [--workspace DIR]
#
#   REGEX         which tests (tempest's --regex), e.g. '^tempest\.api\.network\.test_ports'
#                 default: the four API areas overcast serves (identity, compute, image,
#                 network)
#   --smoke       only the tests tagged smoke (combined with REGEX when both are given)
#   --ci          the CI set: smoke tests and tests/tempest/ci_modules.txt, known
#                 failures not run (what scripts/test.sh runs after the suite)
#   --real        the cloud's real drivers (QEMU/containers, Linux dataplane) instead of
#                 the fake driver
#   --skip-known  do not run the tests listed in tests/tempest/known_failures.txt
#   --keep        keep the cloud's data dir too (the Tempest workspace is always kept)
#   --workspace D the run's workspace (default $OVERCAST_CACHE_DIR/tempest-last)
#
# Tempest 47.0.0 is installed (pinned) into its own virtualenv under
# $OVERCAST_CACHE_DIR (default ~/.cache/overcast)/tempest-47.0.0. The run's workspace
# (tempest.conf, stestr results, logs, overcast's log) is left in
# $OVERCAST_CACHE_DIR/tempest-last. Exit status: 0 when every failure is listed in
# tests/tempest/known_failures.txt and overcast answered no 5xx; 1 otherwise.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
TEMPEST_VERSION=47.0.0
cache="${OVERCAST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/overcast}"
export OVERCAST_CACHE_DIR="$cache"
venv="$cache/tempest-$TEMPEST_VERSION"

# overcast's own interpreter: OVERCAST_PYTHON, else the checkout's .venv (made on demand).
py="${OVERCAST_PYTHON:-}"
if [ -z "$py" ]; then
  [ -x .venv/bin/python ] || bash scripts/install.sh clients
  py="$root/.venv/bin/python"
fi

if [ ! -x "$venv/bin/tempest" ] || ! "$venv/bin/tempest" --version 2>/dev/null \
     | grep -qx "tempest $TEMPEST_VERSION"; then
  echo "== installing tempest $TEMPEST_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "tempest==$TEMPEST_VERSION" 2>&1 \
    | grep -v -e '^WARNING: Location' -e 'is ignored: it is neither' || true
  "$venv/bin/tempest" --version
fi

# The checkout's sources come first, so the cloud under test is this tree's.
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"
exec "$py" "$root/scripts/tempest_run.py" --tempest-venv "$venv" "$@"
