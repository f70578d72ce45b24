#!/usr/bin/env bash
# Installs overcast into ./.venv (and the host packages, when root on Debian).
# Usage: scripts/install.sh [extras]   e.g. scripts/install.sh test
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/install-host.sh
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "creating virtualenv .venv"
  "$py" -m venv .venv
fi
extras="postgres,rabbit${1:+,$1}"
echo "installing overcast[$extras] into .venv"
.venv/bin/pip install -q --disable-pip-version-check -e ".[$extras]" 2>&1 \
  | grep -v -e '^WARNING: Location' -e 'is ignored: it is neither' || true
.venv/bin/python -c 'import overcast' 
