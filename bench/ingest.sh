#!/usr/bin/env bash
# bench/ingest: sustained webhook intake of firebreakd beside nginx answering 202 from its
# config (this machine's ceiling), in the same run; then alerts paced at --rate to measure the
# time from an alert's commit to its playbook's first step. See bench/README.md.
#
#   bench/ingest.sh BUILD_DIR [SECONDS] [CONNECTIONS] [RATE]
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
seconds=${2:-10}
connections=${3:-32}
rate=${4:-5000}
root=$(cd "$(dirname "$0")/.." && pwd)
body=$root/../shared/fixtures/alertmanager/03-noauth-firing-2-alerts-same-group.json
token=bench-token-$RANDOM$RANDOM
ingest=$build/bench/ingest

for f in "$ingest" "$build/daemon/app/firebreakd" "$body"; do
  [ -e "$f" ] || { echo "bench/ingest: $f is missing" >&2; exit 2; }
done
command -v nginx >/dev/null || { echo "bench/ingest: nginx is not installed" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() {  # URL: until it answers 2xx, for 30 s
  for _ in $(seq 300); do
    curl --noproxy '*' -fs -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "bench/ingest: $1 never answered" >&2
  exit 1
}

# nginx, unprivileged, on its own config, answering every request 202 with a body like ours.
nport=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  client_body_buffer_size 64k;
  client_max_body_size 1m;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$nport;
    location / {
      default_type application/json;
      return 202 '{"accepted":2,"repeats":0,"incidents":["inc-0"]}';
    }
  }
}
EOF
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  chmod 755 "$work"
  chown -R 65534:65534 "$work/nginx"
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
"${as_user[@]}" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)

# firebreakd: one source for the sustained load (no playbook matches it: intake alone), one
# whose alerts start a one-step run each (the commit-to-first-step measurement).
fport=$(free_port)
mkdir -p "$work/fb/playbooks"
cat >"$work/fb/firebreak.yaml" <<EOF
listen: 127.0.0.1:$fport
data_dir: $work/fb/var
playbooks: [$work/fb/playbooks]
drills: []
log: { level: warn }
sources:
  ingest: { type: alertmanager, auth: { bearer: env:FIREBREAK_BENCH_TOKEN } }
  latency: { type: alertmanager, auth: { bearer: env:FIREBREAK_BENCH_TOKEN } }
http: { max_connections_per_client: 4096, max_in_flight: 4096 }
EOF
cat >"$work/fb/playbooks/first-step.yaml" <<'EOF'
apiVersion: firebreak/v1
kind: Playbook
metadata: { name: bench-first-step }
trigger:
  sources: [latency]
  match: { alertname: LambdaErrorSpike }
dedup: { key: "{{ alert.fingerprint }}", window: 1h }
steps:
  - { id: first, action: log, with: { message: "bench alert {{ alert.fingerprint }}" } }
EOF
FIREBREAK_BENCH_TOKEN=$token "$build/daemon/app/firebreakd" --config "$work/fb/firebreak.yaml" \
  2>"$work/fb/log" &
pids+=($!)

wait_http "http://127.0.0.1:$nport/"
wait_http "http://127.0.0.1:$fport/readyz"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "data dir on $(df --output=fstype "$work" | tail -1)"
echo "== sustained intake: keep-alive, each request answered when its alerts are committed"
"$ingest" --body "$body" --token "$token" --connections "$connections" --seconds "$seconds" \
  --target "nginx=http://127.0.0.1:$nport/hooks/ingest" \
  --target "firebreakd=http://127.0.0.1:$fport/hooks/ingest"

echo "== paced at $rate alerts/s, each starting a run: commit to first step"
"$ingest" --body "$body" --token "$token" --connections "$connections" --seconds "$seconds" \
  --rate "$rate" --target "firebreakd=http://127.0.0.1:$fport/hooks/latency"

# From the store: each alert's receipt (taken before its commit, so this bounds the commit
# to first-step time from above) and the start of its run's first step, both in ms.
python3 - "$work/fb/var/firebreak.db" <<'EOF'
import sqlite3, sys, time
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30)
q = lambda sql: db.execute(sql).fetchall()
deadline = time.monotonic() + 60
while True:
    alerts = dict(q("SELECT fingerprint, received_at_ms FROM alerts WHERE source = 'latency'"))
    started = q("SELECT json_extract(r.alert_json, '$.fingerprint'), s.started_ms FROM runs r "
                "JOIN steps s ON s.run_id = r.id AND s.step_id = 'first' AND s.attempt = 1")
    if len(started) >= len(alerts) or time.monotonic() > deadline:
        break
    time.sleep(0.5)
gaps = sorted(ms - alerts[fp] for fp, ms in started if fp in alerts)
if not gaps or len(gaps) < len(alerts):
    sys.exit(f"only {len(gaps)} of {len(alerts)} alerts started their first step")
pick = lambda p: gaps[int(p * (len(gaps) - 1))]
print(f"commit to first step ({len(gaps)} alerts, ms, receipt-based upper bound): "
      f"p50 {pick(0.5)}  p99 {pick(0.99)}  max {gaps[-1]}")
EOF
