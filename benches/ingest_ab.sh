#!/usr/bin/env bash
# Two builds of Pacer against each other (issue 12, item 17): the bare
# actix-web handler, Pacer build A and Pacer build B, each Pacer on its own
# SQLite file with its own ACTIVITIES started activities, driven in turn by
# the same `wrk` load as benches/ingest_ratio.sh, each round (A and B in
# alternating order). Prints each build's rate over the bare handler's in
# the same round, B over A, and the mean CPU per request of each server.
#
#   A=path/to/pacer-a B=path/to/pacer-b benches/ingest_ab.sh [ROUNDS] [SECONDS]
#
# Needs wrk, curl, jq, and a release build of the bare handler
# (`cargo build --release -p pacer-tools --bin bare_ingest`).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${A:?A=path to Pacer build A}" "${B:?B=path to Pacer build B}"
A=$(realpath "$A"); B=$(realpath "$B")
rounds=${1:-6}; seconds=${2:-6}
activities=10000 # one provisioning call (its most)
connections=${CONNECTIONS:-256}; threads=${WRK_THREADS:-2}
for tool in wrk curl jq; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
cargo build --release --quiet -p pacer-tools --bin bare_ingest
dir=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ulimit -n 65536 2>/dev/null || true
admin=ab-admin
declare -A port pid
port[bare]=$(free_port); target/release/bare_ingest "127.0.0.1:${port[bare]}" >/dev/null 2>&1 & pid[bare]=$!
for s in A B; do
  port[$s]=$(free_port); mkdir -p "$dir/$s"
  bin=${!s}
  ( cd "$dir/$s" && PACER_ADMIN_TOKEN=$admin DATABASE_URL="sqlite://$dir/$s/pacer.db" PACER_BIND="127.0.0.1:${port[$s]}" exec "$bin" >"$dir/$s/log" 2>&1 ) & pid[$s]=$!
done
trap 'kill ${pid[bare]} ${pid[A]} ${pid[B]} 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
for s in A B; do for _ in $(seq 100); do curl -sf "http://127.0.0.1:${port[$s]}/readyz" >/dev/null && break; sleep 0.1; done; done
for s in A B; do
{ echo "accounts = {"
  curl -sf -X POST "http://127.0.0.1:${port[$s]}/api/v1/admin/provision" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d "{\"username_prefix\":\"ab-\",\"count\":$activities,\"password\":\"ingest-ratio\",\"start_activity\":\"Run\"}" |
    jq -r '.athletes[] | "{\(.activity_id),\"\(.access_token)\"},"'
  echo "}"; } >"$dir/$s/accounts.lua"
done
cp "$dir/A/accounts.lua" "$dir/bare.lua"
first_s=$(($(date +%s) - 3600 * 4)); run=0
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15) * 1e6 / hz }' "/proc/$1/stat"; }
drive() { # server seconds
  local acc="$dir/$1/accounts.lua"; [ "$1" = bare ] && acc="$dir/bare.lua"
  local before; before=$(cpu_us "${pid[$1]}")
  local out; out=$(wrk -t$threads -c$connections -d"${2}s" --timeout 10s -s benches/ingest_ratio.lua "http://127.0.0.1:${port[$1]}" -- "$acc" $((first_s + run * 1000)) $threads | grep '^RESULT')
  local cpu=$(($(cpu_us "${pid[$1]}") - before)); run=$((run + 1))
  local $(echo "${out#RESULT }")
  awk -v r="$requests" -v e="$status_errors" -v d="$duration_us" -v cpu="$cpu" -v name="$1" 'BEGIN { printf "%s %.0f %d %.2f\n", name, (r - e) / (d / 1e6), e, cpu / r }'
}
drive bare 4 >/dev/null; drive A 8 >/dev/null; drive B 8 >/dev/null
: > "$dir/rates"
for r in $(seq $rounds); do
  order="bare A B"; [ $((r % 2)) = 0 ] && order="bare B A"
  for s in $order; do l=$(drive $s $seconds); echo "$r $l" | tee -a "$dir/rates"; done
done
awk '{v[$1,$2]=$3} END { for (i=1;(i,"bare") in v;i++) { a=v[i,"A"]/v[i,"bare"]; b=v[i,"B"]/v[i,"bare"]; printf "round %d A %.3f B %.3f B/A %.3f\n", i, a, b, v[i,"B"]/v[i,"A"]; sa+=a; sb+=b; sba+=v[i,"B"]/v[i,"A"]; n++ } printf "mean A %.3f B %.3f B/A %.3f\n", sa/n, sb/n, sba/n }' "$dir/rates"
awk '{c[$2]+=$5; n[$2]++} END { for (k in c) printf "cpu/req %s %.2f\n", k, c[k]/n[k] }' "$dir/rates"
