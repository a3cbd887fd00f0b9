#!/bin/sh
# Checks systemd/firebreakd.service with `systemd-analyze verify` (any message fails) and its
# hardening with `systemd-analyze security --offline` (exposure at most 2.0 of 10; --threshold counts tenths).
# Usage: check-systemd-unit.sh FIREBREAKD_BINARY. Exit 77 (skipped) without systemd-analyze.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
binary=${1:?usage: check-systemd-unit.sh FIREBREAKD_BINARY}
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "skipped: systemd-analyze is not installed (apt-get install systemd)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# verify checks that ExecStart exists: point it at the binary just built.
sed "s#/usr/local/bin/firebreakd#$binary#" "$root/systemd/firebreakd.service" > "$tmp/firebreakd.service"
out=$(systemd-analyze verify "$tmp/firebreakd.service" 2>&1) || {
  echo "$out"
  echo "systemd-analyze verify failed"
  exit 1
}
if [ -n "$out" ]; then
  echo "$out"
  echo "systemd-analyze verify reported the messages above"
  exit 1
fi
sec=$(systemd-analyze security --offline=yes --threshold=20 "$tmp/firebreakd.service" 2>&1) || {
  echo "$sec"
  echo "systemd-analyze security: exposure over 2.0"
  exit 1
}
echo "$sec" | tail -n 1
echo "firebreakd.service: verified"
