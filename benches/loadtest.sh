#!/usr/bin/env bash
# Runs one load scenario against a fresh release server on this machine and
# prints the load tool's report (the JSON is the last line).
#
#   benches/loadtest.sh BACKEND [pacer-tools loadtest flags...]
#   benches/loadtest.sh sqlite   --activities 100000 --interval-ms 2000 --watchers 1000 --duration-s 60
#   benches/loadtest.sh postgres --activities 100000 --interval-ms 2000 --watchers 1000 --duration-s 60 --batch 5
#
# BACKEND is sqlite (a fresh file under $PACER_LT_DIR, default /tmp/pacer-lt)
# or postgres (a fresh database pacer_lt on 127.0.0.1:5432, dropped after).
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:?usage: benches/loadtest.sh sqlite|postgres [loadtest flags]}
shift
dir=${PACER_LT_DIR:-/tmp/pacer-lt}
port=${PACER_LT_PORT:-18080}
token=loadtest-admin-token

cargo build --release --quiet -p pacer -p pacer-tools
mkdir -p "$dir"
case "$backend" in
sqlite)
    rm -f "$dir"/pacer.db*
    db="sqlite://$dir/pacer.db"
    ;;
postgres)
    psql -h 127.0.0.1 -U postgres -qc 'DROP DATABASE IF EXISTS pacer_lt' postgres
    psql -h 127.0.0.1 -U postgres -qc 'CREATE DATABASE pacer_lt' postgres
    db="postgres://postgres@127.0.0.1:5432/pacer_lt"
    ;;
*)
    echo "backend must be sqlite or postgres" >&2
    exit 2
    ;;
esac

# One socket per SSE watcher and WebSocket activity, on both sides.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
PACER_ADMIN_TOKEN=$token DATABASE_URL=$db PACER_LOG=warn PACER_BIND=127.0.0.1:$port \
    PACER_DB_MAX_CONNECTIONS=${PACER_DB_MAX_CONNECTIONS:-16} \
    "${PACER_BIN:-target/release/pacer}" >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.1
done

PACER_ADMIN_TOKEN=$token target/release/pacer-tools loadtest --url "http://127.0.0.1:$port" --json "$@"
