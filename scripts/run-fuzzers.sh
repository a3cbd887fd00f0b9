#!/usr/bin/env bash
# Runs every libFuzzer harness for N seconds on its seed corpus (copied, so runs do not grow
# the checked-in seeds), as many at once as there are cores. Any crash, leak, timeout or
# sanitizer report fails, and the failing input is kept under the printed directory.
set -euo pipefail
build=${1:?build dir}
seconds=${2:-60}
jobs=${FUZZ_JOBS:-$(nproc)}
root=$(cd "$(dirname "$0")/.." && pwd)

fuzz_one() {
  local bin=$1 name stem work
  name=$(basename "$bin"); stem=${name#fuzz_}
  work=$(mktemp -d "${TMPDIR:-/tmp}/firebreak-$name.XXXXXX")
  mkdir "$work/corpus"
  [ -d "$root/fuzz/corpus/$stem" ] && cp -r "$root/fuzz/corpus/$stem/." "$work/corpus/"
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
       -artifact_prefix="$work/" "$work/corpus" >"$work/log" 2>&1; then
    { echo "FAILED: $name (its input and log are in $work)"; tail -50 "$work/log"; } >&2
    return 1
  fi
  echo "== $name for ${seconds}s: $(grep -E "^Done|#[0-9]+.*DONE" "$work/log" | tail -1 || true)"
  rm -rf "$work"
}

status=0
running=0
for bin in "$build"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  fuzz_one "$bin" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
exit $status
