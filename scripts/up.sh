#!/usr/bin/env bash
# One command: install overcast with the OpenStack clients (the `clients` extra) and
# start the all-in-one cloud in the foreground.
# Extra arguments go to `overcast up` (e.g. --port 8080 --data-dir ~/cloud).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/install.sh" clients
echo "the openstack client is $root/.venv/bin/openstack (\`. $root/.venv/bin/activate\` puts it on PATH)"
exec "$root/.venv/bin/overcast" up "$@"
