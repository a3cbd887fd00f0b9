#!/usr/bin/env bash
# Runs every libFuzzer harness for N seconds on its seed corpus (copied, so runs do not grow
# the checked-in seeds). Any crash, leak, timeout or sanitizer report fails.
set -euo pipefail
build=${1:?build dir}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for bin in "$build"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); stem=${name#fuzz_}
  work=$(mktemp -d)
  [ -d "$root/fuzz/corpus/$stem" ] && cp -r "$root/fuzz/corpus/$stem/." "$work/"
  echo "== $name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
       -artifact_prefix="$work/" "$work" >"$work/log" 2>&1; then
    echo "FAILED: $name"; tail -50 "$work/log"; status=1
  else
    grep -E "^Done|#[0-9]+.*DONE" "$work/log" | tail -1 || true
  fi
  rm -rf "$work"
done
exit $status
