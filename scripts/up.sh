#!/usr/bin/env bash
# One command: install overcast and start the all-in-one cloud in the foreground.
# Extra arguments go to `overcast up` (e.g. --port 8080 --data-dir ~/cloud).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/install.sh"
exec "$root/.venv/bin/overcast" up "$@"
