#!/usr/bin/env bash
# Installs the Debian packages overcast needs (scripts/host-packages.txt);
# with --peers also the optional peers the benchmarks compare against
# (scripts/peer-packages.txt: real Swift for bench/object.py); with --servers also
# PostgreSQL and RabbitMQ (scripts/server-packages.txt: many hosts, `overcast lab`).
# Run as root on Debian/Ubuntu; elsewhere it prints what is missing and how to get it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
lists=("$here/host-packages.txt")
for arg in "$@"; do
  [ "$arg" = "--peers" ] && lists+=("$here/peer-packages.txt")
  [ "$arg" = "--servers" ] && lists+=("$here/server-packages.txt")
done
mapfile -t pkgs < <(cat "${lists[@]}" | grep -v '^\s*#' | grep -v '^\s*$')

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "host packages: all present"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "overcast needs these packages, which are missing: ${missing[*]}" >&2
  echo "On Debian/Ubuntu run as root: apt-get install ${missing[*]}" >&2
  echo "Elsewhere install the equivalents (iproute2, iptables, dnsmasq, qemu, crun/runc, busybox)." >&2
  exit 0
fi
echo "installing host packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "host packages: installed"
