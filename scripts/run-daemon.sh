#!/usr/bin/env bash
# `make run`: firebreakd on loopback with the example config (docs/examples/firebreak.yaml:
# SQLite under ./var, the playbooks in ./playbooks, dry-run). Alertmanager authenticates with
# a bearer token kept in ./var/alertmanager-token, made on the first run.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
mkdir -p var
token_file=$PWD/var/alertmanager-token
if [ ! -s "$token_file" ]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$token_file")
fi
export FIREBREAK_AM_TOKEN="${FIREBREAK_AM_TOKEN:-$(cat "$token_file")}"
cat <<MSG
firebreakd: webhooks at http://127.0.0.1:9095/hooks/prometheus (dry-run: nothing is executed)
Point Alertmanager at it (alertmanager.yml):
  receivers:
    - name: firebreak
      webhook_configs:
        - url: http://127.0.0.1:9095/hooks/prometheus
          send_resolved: true
          http_config:
            authorization: { credentials_file: $token_file }
Stop with Ctrl-C.
MSG
exec "$build/daemon/app/firebreakd" --config docs/examples/firebreak.yaml
