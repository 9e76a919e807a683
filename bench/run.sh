#!/usr/bin/env bash
# Doorward performance run (issue 6): builds the release server and bench/guardbench, starts
# them on loopback with a fresh SQLite database, runs wrk against each target and prints
# measured value, target and PASS/FAIL. About 2 minutes after the first build.
#
#   bash bench/run.sh            # DURATION=10s by default (wrk -t1 -c64 -d$DURATION)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION=${DURATION:-10s}
DW_ADDR=127.0.0.1:18080
GB_ADDR=127.0.0.1:18081
BASE=http://$DW_ADDR
CORES=$(nproc)

command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
for tool in curl jq; do command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 1; }; done

echo "== building (release)"
(cd "$ROOT" && cargo build --release -q -p doorward)
(cd "$ROOT/bench/guardbench" && CARGO_TARGET_DIR=$CARGO_TARGET_DIR/guardbench cargo build --release -q)
DW=$CARGO_TARGET_DIR/release/doorward
GB=$CARGO_TARGET_DIR/guardbench/release/guardbench

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

# Fixed configuration: fresh SQLite file, default argon2id parameters and pool, access logs
# off (RUST_LOG=warn) so the terminal is not what we measure.
export DOORWARD_DATABASE_URL=sqlite:$WORK/doorward.db RUST_LOG=warn

wait_ready() { # url -> waits until 200
  for _ in $(seq 1 4000); do curl -sf -o /dev/null "$1" && return 0; sleep 0.002; done
  echo "not ready: $1" >&2; exit 1
}

# First start creates the database, schema and signing key; stop it, then time a start on
# the existing database.
"$DW" serve --listen $DW_ADDR >"$WORK/first.log" 2>&1 & FIRST=$!; PIDS+=($FIRST)
wait_ready $BASE/healthz
kill $FIRST; wait $FIRST 2>/dev/null || true

t0=$(date +%s%N)
"$DW" serve --listen $DW_ADDR >"$WORK/doorward.log" 2>&1 & DW_PID=$!; PIDS+=($DW_PID)
wait_ready $BASE/healthz
READY_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
sleep 1
IDLE_RSS_KIB=$(awk '/VmRSS/ {print $2}' /proc/$DW_PID/status)

export BENCH_EMAIL=bench@example.com BENCH_PASSWORD='plinth-harbour-quietly-42'
TOKEN=$(curl -sf $BASE/v1/signup -H 'content-type: application/json' \
  -d "{\"email\":\"$BENCH_EMAIL\",\"password\":\"$BENCH_PASSWORD\"}" | jq -r .access_token)
[ -n "$TOKEN" ] && [ "$TOKEN" != null ] || { echo "signup failed" >&2; exit 1; }
curl -sf $BASE/.well-known/jwks.json >"$WORK/jwks.json"

"$GB" serve $GB_ADDR $BASE "$WORK/jwks.json" & GB_PID=$!; PIDS+=($GB_PID)
wait_ready http://$GB_ADDR/bare
curl -sf http://$GB_ADDR/guarded -H "authorization: Bearer $TOKEN" >/dev/null || { echo "guarded route refused the token" >&2; exit 1; }

rps() { awk '/Requests\/sec/ {print $2}'; }
AUTH="authorization: Bearer $TOKEN"
load() { wrk -t1 -c64 -d"$DURATION" "$@"; }

echo "== load: wrk -t1 -c64 -d$DURATION"
BARE=$(load http://$GB_ADDR/bare | rps);                              echo "bare            $BARE req/s"
GUARDED=$(load -H "$AUTH" http://$GB_ADDR/guarded | rps);             echo "guarded         $GUARDED req/s"
SHARED=$(load -H "$AUTH" http://$GB_ADDR/guarded-shared | rps);       echo "guarded-shared  $SHARED req/s"
ME=$(load -H "$AUTH" $BASE/v1/me | rps);                              echo "GET /v1/me      $ME req/s"
ARGON_MS=$("$GB" argon2 10)
echo "argon2id verify $ARGON_MS ms (default parameters, one core)"
LOGIN_OUT=$(load -s "$ROOT/bench/login.lua" $BASE/v1/login)
LOGIN=$(awk '/OK_PER_SEC/ {print $2}' <<<"$LOGIN_OUT")
echo "POST /v1/login  $LOGIN ok/s ($(grep STATUS <<<"$LOGIN_OUT"))"

echo "== isolation: 200 login clients, GET /v1/me alongside (wrk -t1 -c8 --latency)"
wrk -t1 -c200 -d"$DURATION" -s "$ROOT/bench/login.lua" $BASE/v1/login >"$WORK/flood.txt" & FLOOD=$!
sleep 1
ME_LAT=$(wrk -t1 -c8 -d5s --latency -H "$AUTH" $BASE/v1/me)
wait $FLOOD
P99=$(awk '$1=="99%" {print $2}' <<<"$ME_LAT")
P99_MS=$(awk -v v="$P99" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /[^m]s$/) n*=1000; print n }')
FLOOD_STATUS=$(grep STATUS "$WORK/flood.txt" | cut -d' ' -f2-)
FLOOD_BAD=$(tr ' ' '\n' <<<"$FLOOD_STATUS" | awk -F= '$1!="" && $1!=200 && $1!=429 && $1!=503 {n+=$2} END {print n+0}')
FLOOD_NORA=$(awk '/NO_RETRY_AFTER/ {print $2}' "$WORK/flood.txt")
PEAK_RSS_KIB=$(awk '/VmHWM/ {print $2}' /proc/$DW_PID/status)
# 64 MiB + hashes in flight (the pool's default: one per core) × argon2 memory (19 MiB).
RSS_LIMIT_KIB=$(( 64*1024 + CORES*19456 ))

echo
echo "== results ($CORES cores, $(date -u +%Y-%m-%dT%H:%MZ))"
row() { printf '%-44s %-16s %-20s %s\n' "$1" "$2" "$3" "$4"; }
pass() { awk "BEGIN { exit !($1) }" && echo PASS || echo FAIL; }
row target measured required result
R=$(awk -v g=$GUARDED -v b=$BARE 'BEGIN {printf "%.2f", g/b}')
row "1a guarded / bare (Authenticated)" "${R}x" ">= 0.80x" "$(pass "$R >= 0.8")"
R=$(awk -v g=$SHARED -v b=$BARE 'BEGIN {printf "%.2f", g/b}')
row "1a guarded / bare (AuthenticatedShared)" "${R}x" ">= 0.80x" "$(pass "$R >= 0.8")"
R=$(awk -v g=$ME -v b=$BARE 'BEGIN {printf "%.2f", g/b}')
row "1b GET /v1/me / bare" "${R}x" ">= 0.50x" "$(pass "$R >= 0.5")"
LIMIT=$(awk -v c=$CORES -v ms=$ARGON_MS 'BEGIN {printf "%.1f", c*1000/ms}')
R=$(awk -v l=$LOGIN -v m=$LIMIT 'BEGIN {printf "%.2f", l/m}')
row "2 login ok/s / (cores / argon2 verify)" "$LOGIN/$LIMIT=${R}x" ">= 0.90x" "$(pass "$R >= 0.9")"
row "3a /v1/me p99 during login flood" "${P99_MS} ms" "<= 10 ms" "$(pass "$P99_MS <= 10")"
row "3b flood errors other than 429/503" "$FLOOD_BAD" "0" "$(pass "$FLOOD_BAD == 0")"
row "3c 429/503 without Retry-After" "$FLOOD_NORA" "0" "$(pass "$FLOOD_NORA == 0")"
row "3d peak RSS" "$((PEAK_RSS_KIB/1024)) MiB" "<= $((RSS_LIMIT_KIB/1024)) MiB" "$(pass "$PEAK_RSS_KIB <= $RSS_LIMIT_KIB")"
row "4 refresh/s (SQLite, PostgreSQL)" "not measured" ">= 2000" "SKIP"
row "5a idle RSS" "$((IDLE_RSS_KIB/1024)).$(( (IDLE_RSS_KIB%1024)*10/1024 )) MiB" "<= 15 MiB" "$(pass "$IDLE_RSS_KIB <= 15*1024")"
row "5b start to ready (existing SQLite)" "$READY_MS ms" "<= 200 ms" "$(pass "$READY_MS <= 200")"
echo "flood statuses: $FLOOD_STATUS"
