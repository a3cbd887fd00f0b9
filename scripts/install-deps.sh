#!/usr/bin/env bash
# Installs everything Firebreak needs to build, run and test on Debian 12. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl   # curl: bench/ingest.sh
  clang-14 libclang-rt-14-dev            # libFuzzer harnesses
  libboost-dev libboost-system-dev       # Asio, Beast
  libyaml-cpp-dev libsqlite3-dev sqlite3 libspdlog-dev libfmt-dev nlohmann-json3-dev
  libexpected-dev libre2-dev libcli11-dev libcurl4-openssl-dev libssl-dev libzstd-dev zstd
  libsimdjson-dev libsystemd-dev libgtest-dev libgmock-dev libbenchmark-dev libpugixml-dev
  libhowardhinnant-date-dev tzdata       # drill schedules in named time zones
  python3 python3-venv
  prometheus-alertmanager                # the real sender in integration tests
  systemd                                # systemd-analyze verify of systemd/firebreakd.service
  nginx                                  # bench/ingest's reference server (run unprivileged)
  nftables iproute2                      # chaos.block_port and its test's network namespace
  chromium                               # renders the HTML reports in tests/integration/test_reports.py
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python test tools live in a project-local virtualenv.
venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import pytest' 2>/dev/null || [ tests/integration/requirements.txt -nt "$venv/.installed" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/integration/requirements.txt
  touch "$venv/.installed"
fi
