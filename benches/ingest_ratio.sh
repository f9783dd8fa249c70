#!/usr/bin/env bash
# Ingest against the framework's limit (issue 12, item 17): Pacer and a bare
# actix-web handler that only parses the same JSON (tools/src/bin/bare_ingest.rs),
# driven by the same `wrk` load in one run, alternating, and the ratio.
#
#   benches/ingest_ratio.sh [ROUNDS] [SECONDS]      (defaults: 5 rounds of 10 s)
#
# Pacer runs release with its defaults on a fresh SQLite file in a temp dir
# (embedded default), on a random port. ACTIVITIES (10,000) athletes with a
# started activity each are provisioned; wrk posts one fix per request over
# CONNECTIONS (256) connections, round-robin over the activities. Each
# round runs the bare handler for SECONDS, then Pacer for SECONDS; a warm-up
# of each comes first (every activity's actor is started). Rates count 2xx
# answers only; the ratio is Pacer's median over the bare handler's median.
# Needs wrk (Debian: apt-get install wrk), curl, jq. PACER_BIN runs another
# build of Pacer (an A/B against an earlier commit's binary), BARE_BIN
# another build of the bare handler.
#
# PACER_B_BIN adds a second Pacer build (`pacer_b`), on its own SQLite file
# with its own activities, driven in every round too (the two Pacers in
# alternating order): the summary adds its ratio and the two builds' ratio
# per round, side by side on the same load.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
seconds=${2:-10}
activities=${ACTIVITIES:-10000}
connections=${CONNECTIONS:-256}
threads=${WRK_THREADS:-2}
for tool in wrk curl jq; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 1; }
done

cargo build --release --quiet -p pacer --bin pacer -p pacer-tools --bin bare_ingest
pacer_bin=${PACER_BIN:-target/release/pacer}
pacer_b_bin=${PACER_B_BIN:-}
bare_bin=${BARE_BIN:-target/release/bare_ingest}
pacers=pacer
[ -n "$pacer_b_bin" ] && pacers="pacer pacer_b"
dir=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
admin=ingest-ratio-admin
ulimit -n 65536 2>/dev/null || true

declare -A port pid
start_pacer() { # name binary
  port[$1]=$(free_port)
  PACER_ADMIN_TOKEN=$admin DATABASE_URL="sqlite://$dir/$1.db" PACER_BIND="127.0.0.1:${port[$1]}" \
    "$2" >"$dir/$1.log" 2>&1 &
  pid[$1]=$!
}
start_pacer pacer "$pacer_bin"
[ -n "$pacer_b_bin" ] && start_pacer pacer_b "$pacer_b_bin"
port[bare]=$(free_port)
"$bare_bin" "127.0.0.1:${port[bare]}" >"$dir/bare.log" 2>&1 &
pid[bare]=$!
trap 'kill "${pid[@]}" 2>/dev/null; wait "${pid[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
for name in $pacers; do
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:${port[$name]}/readyz" >/dev/null && break
    sleep 0.1
  done
done
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:${port[bare]}/" && break
  sleep 0.1
done

# Each Pacer's accounts, as a Lua table for the wrk script (the bare
# handler checks no token: it is sent the first Pacer's).
for name in $pacers; do
  offset=0
  {
    echo "accounts = {"
    while [ "$offset" -lt "$activities" ]; do
      count=$((activities - offset < 10000 ? activities - offset : 10000))
      curl -sf -X POST "http://127.0.0.1:${port[$name]}/api/v1/admin/provision" \
        -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
        -d "{\"username_prefix\":\"ir$offset-\",\"count\":$count,\"password\":\"ingest-ratio\",\"start_activity\":\"Run\"}" |
        jq -r '.athletes[] | "{\(.activity_id),\"\(.access_token)\"},"'
      offset=$((offset + count))
    done
    echo "}"
  } >"$dir/$name.lua"
done
cp "$dir/pacer.lua" "$dir/bare.lua"

# Fix times start an hour back; every wrk run starts 1,000 s after the
# previous one, more than its rounds advance, so each activity's fixes keep
# moving forward in time and none is a duplicate.
first_s=$(($(date +%s) - 3600 * 4))
run=0
# CPU time (µs) a process has used, user + system.
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15) * 1e6 / hz }' "/proc/$1/stat"; }
# Never in a subshell: it advances `run`, the fix times' offset.
drive() { # name seconds -> requests/s of 2xx answers, and the server's CPU µs per request
  local out before
  before=$(cpu_us "${pid[$1]}")
  out=$(wrk -t"$threads" -c"$connections" -d"${2}s" --timeout 10s -s benches/ingest_ratio.lua \
    "http://127.0.0.1:${port[$1]}" -- "$dir/$1.lua" $((first_s + run * 1000)) "$threads" | grep '^RESULT')
  local cpu=$(($(cpu_us "${pid[$1]}") - before))
  run=$((run + 1))
  # shellcheck disable=SC2086
  local $(echo "${out#RESULT }")
  awk -v r="$requests" -v e="$status_errors" -v s="$socket_errors" -v d="$duration_us" \
    -v p50="$p50_us" -v p99="$p99_us" -v name="$1" -v cpu="$cpu" \
    'BEGIN { printf "%s %.0f %d %d %.1f %.1f %.1f\n", name, (r - e) / (d / 1e6), e, s, p50 / 1000, p99 / 1000, cpu / r }'
}

echo "warm-up: every activity's first fixes, every server" >&2
drive bare 5 >/dev/null
for name in $pacers; do
  drive "$name" 10 >/dev/null
done

printf '%-6s %-7s %12s %11s %13s %9s %9s %12s\n' round server "requests/s" "non-2xx" "socket errors" "p50 ms" "p99 ms" "CPU µs/req"
: >"$dir/rates"
for r in $(seq "$rounds"); do
  order="bare $pacers"
  [ -n "$pacer_b_bin" ] && [ $((r % 2)) = 0 ] && order="bare pacer_b pacer"
  for server in $order; do
    drive "$server" "$seconds" >"$dir/line"
    line=$(cat "$dir/line")
    echo "$r $line" >>"$dir/rates"
    # shellcheck disable=SC2086
    printf '%-6s %-7s %12s %11s %13s %9s %9s %12s\n' "$r" $line
  done
done

median() { awk -v s="$1" '$2 == s {print $3}' "$dir/rates" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
b=$(median bare)
p=$(median pacer)
awk -v b="$b" -v p="$p" -v n="$rounds" -v a="$activities" -v c="$connections" 'BEGIN {
  printf "median of %d rounds, %d activities, %d connections, one fix per request:\n", n, a, c
  printf "  bare actix-web handler: %d requests/s\n  pacer:                  %d requests/s\n  ratio pacer/bare:       %.2f\n", b, p, p / b
}'
if [ -n "$pacer_b_bin" ]; then
  pb=$(median pacer_b)
  awk -v b="$b" -v p="$pb" 'BEGIN { printf "  pacer_b:                %d requests/s\n  ratio pacer_b/bare:     %.2f\n", p, p / b }'
fi
awk -v two="${pacer_b_bin:+1}" '{r[$1, $2] = $3; cpu[$2] += $8; n[$2]++} END {
  printf "  per-round ratios:"
  for (i = 1; (i, "bare") in r; i++) printf " %.2f", r[i, "pacer"] / r[i, "bare"]
  printf "\n"
  if (two) {
    printf "  per-round pacer_b/bare:"
    for (i = 1; (i, "bare") in r; i++) printf " %.2f", r[i, "pacer_b"] / r[i, "bare"]
    printf "\n  per-round pacer_b/pacer:"
    for (i = 1; (i, "bare") in r; i++) { q = r[i, "pacer_b"] / r[i, "pacer"]; printf " %.3f", q; s += q; k++ }
    printf "  (mean %.3f)\n", s / k
    printf "  mean CPU µs/req: pacer %.2f, pacer_b %.2f, bare %.2f\n", cpu["pacer"] / n["pacer"], cpu["pacer_b"] / n["pacer_b"], cpu["bare"] / n["bare"]
  }
}' "$dir/rates"
