#!/usr/bin/env bash
# Sign-in timing: unknown user name vs wrong password, side by side in one
# run (the user-name oracle of issue 12). Starts the server binary on a fresh
# SQLite file with the sign-in limits raised, then times N of each, interleaved.
#   benches/signin_timing.sh [N]        (PACER_BIN overrides the binary)
set -euo pipefail
n=${1:-40}
bin=${PACER_BIN:-target/release/pacer}
[ -x "$bin" ] || { echo "build it first: cargo build --release (or set PACER_BIN)" >&2; exit 1; }
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATABASE_URL="sqlite://$dir/pacer.db" PACER_BIND="127.0.0.1:$port" PACER_LOG=warn \
  PACER_SIGNIN_ACCOUNT_BURST=100000 PACER_SIGNIN_ADDRESS_BURST=100000 "$bin" >"$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
url="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done
curl -sf -X POST "$url/api/v1/athletes" -H 'Content-Type: application/json' \
  -d '{"username":"timed","password":"correct horse"}' >/dev/null
time_one() {
  curl -s -o /dev/null -w '%{time_total}\n' -X POST "$url/api/v1/sessions" \
    -H 'Content-Type: application/json' -d "{\"username\":\"$1\",\"password\":\"wrong horse\"}"
}
: >"$dir/unknown"; : >"$dir/wrong"
for i in $(seq "$n"); do
  time_one "nobody$i" >>"$dir/unknown"
  time_one timed >>"$dir/wrong"
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
u=$(median "$dir/unknown"); w=$(median "$dir/wrong")
echo "unknown user: median ${u}s; wrong password: median ${w}s; ratio unknown/wrong: $(awk -v u="$u" -v w="$w" 'BEGIN {printf "%.2f", u/w}') (n=$n each)"
