#!/usr/bin/env bash
# Doorward performance run (issue 6), one command:
#
#   bash bench/run.sh             # Doorward against issue 6's targets: measured, required, PASS/FAIL
#   bash bench/run.sh --compare   # the same, then the same loads against the hand-written FastAPI
#                                 # peer (bench/peers/fastapi) and a side-by-side table
#
# About 3 minutes (5 to 6 with --compare) after the first build, on a 2-core VM.
#
# Builds the release server and bench/guardbench, starts Doorward on a free loopback port with
# a fresh SQLite database (default settings, RUST_LOG=warn) and runs wrk (-t1, DURATION each)
# against each target: guardbench's bare and guarded routes, GET /v1/me, POST /v1/login, a
# 200-client login flood with GET /v1/me measured alongside, and POST /v1/refresh
# (bench/refresh.lua: one session per connection, each request with the token the last one
# returned) on that SQLite database and on a fresh PostgreSQL database (created and dropped
# here). --compare then installs the peer's pinned packages into a virtualenv (once), starts
# it with uvicorn (one worker per core) on its own SQLite file and runs the same loads.
#
# Environment: DURATION (wrk run length, whole seconds, default 10s), ROUNDS (rounds of the
# four throughput loads, default 3; each target is the median of its rounds), CARGO_TARGET_DIR,
# BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432), PEER_VENV (default
# /tmp/doorward-bench-peer-venv), and any DOORWARD_* setting but the database and the listen
# address (both Doorward servers inherit them).
set -euo pipefail

MODE=targets
case "${1:-}" in
  "") ;;
  --compare) MODE=compare ;;
  *) echo "usage: bash bench/run.sh [--compare]" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
SECS=${DURATION%s}
[[ "$SECS" =~ ^[0-9]+$ ]] && [ "$SECS" -ge 3 ] || { echo "DURATION must be whole seconds >= 3, like 10s" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a whole number >= 1, like 3" >&2; exit 2; }
BENCH_PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
PEER_VENV=${PEER_VENV:-/tmp/doorward-bench-peer-venv}
CORES=$(nproc)
CONNS=64            # wrk connections for the throughput loads (and sessions for refresh)
FLOOD_CONNS=200     # login clients in the isolation run
LOGIN_CONNS=$((2 * $(nproc)))  # --compare's login load: keeps every core hashing with one
                               # waiting, so a 1 s bcrypt still completes waves within DURATION
T_START=$(date +%s)

command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
for tool in curl jq python3 psql; do command -v $tool >/dev/null || { echo "needs $tool" >&2; exit 1; }; done

echo "== building (release)"
(cd "$ROOT" && cargo build --release -q -p doorward)
(cd "$ROOT/bench/guardbench" && CARGO_TARGET_DIR=$CARGO_TARGET_DIR/guardbench cargo build --release -q)
DW=$CARGO_TARGET_DIR/release/doorward
GB=$CARGO_TARGET_DIR/guardbench/release/guardbench

WORK=$(mktemp -d)
PIDS=()
PG_DB=doorward_bench_$$
PG_CREATED=0
PEER_TREE=()
cleanup() {
  local rc=$?
  if [ "$rc" != 0 ] && [ -d "$WORK" ]; then   # keep the servers' logs and wrk outputs of a failed run
    local keep=/tmp/doorward-bench-failed-$$
    mkdir -p "$keep" && cp "$WORK"/*.log "$WORK"/*.txt "$keep"/ 2>/dev/null
    echo "run failed (exit $rc); server logs and wrk outputs kept in $keep" >&2
  fi
  exec 2>/dev/null   # no "Killed" job notices for the servers stopped here
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  # uvicorn waits for its worker threads, which may still be hashing the flood's backlog
  sleep 0.5
  for p in "${PEER_TREE[@]}"; do
    grep -qF "$PEER_VENV" "/proc/$p/cmdline" 2>/dev/null && kill -9 "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$PG_CREATED" = 1 ]; then
    psql -q "$BENCH_PG_URL/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { # url -> waits until 200
  for _ in $(seq 1 10000); do curl -sf -o /dev/null "$1" && return 0; sleep 0.002; done
  echo "not ready: $1" >&2; exit 1
}
stop() { # pid: stop it and forget it (so cleanup never signals a reused pid)
  kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true
  local keep=() p; for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done; PIDS=("${keep[@]}")
}

# wrk output -> numbers
rps() { awk '/Requests\/sec/ {print $2}'; }
p99_ms() { awk '$1=="99%" {v=$2; n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /m$/) n*=60000; else if (v ~ /s$/) n*=1000; printf "%.2f", n}'; }
answered() { awk '/requests in/ {print $1}'; }
# p99 in ms, or "none answered" when wrk saw no complete answer in its run
p99_text() { if [ "$(answered <"$1")" = 0 ]; then echo "none answered in ${SECS}s"; else echo "$(p99_ms <"$1") ms"; fi; }
timeouts() { awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10; f=1} END {if (!f) print 0}'; }
non2xx() { awk '/Non-2xx/ {n=$NF} END {print n+0}'; }
field() { awk -v k="$1" '$1==k {print $2}'; }
statuses() { awk '$1=="STATUS" {for (i = 2; i <= NF; i++) print $i}' | sort -t= -k1n | awk '{printf "%s%s", (NR > 1 ? " " : ""), $0} END {print (NR ? "" : "none")}'; }
# statuses other than the allowed ones (args: allowed codes), summed
bad_statuses() { tr ' ' '\n' | awk -F= -v ok=" $* " '$1!="" && index(ok, " " $1 " ")==0 {n+=$2} END {print n+0}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k/1024}'; }
proc_kib() { awk -v f="$2:" '$1==f {print $2}' "/proc/$1/status"; }
tree_pids() { echo "$1"; for c in $(pgrep -P "$1" || true); do tree_pids "$c"; done; }
tree_kib() { local s=0 p v; for p in $(tree_pids "$1"); do v=$(proc_kib "$p" "$2" 2>/dev/null || echo 0); s=$((s + ${v:-0})); done; echo $s; }

load() { wrk -t1 -c$CONNS -d"$DURATION" --latency "$@"; }
LONG=(--timeout 30s)   # slow answers (login under load) are latency, not errors

# ---------------------------------------------------------------- Doorward (SQLite)
DW_PORT=$(free_port); GB_PORT=$(free_port)
BASE=http://127.0.0.1:$DW_PORT
# Fixed configuration: fresh SQLite file, default argon2id parameters, hash pool and database
# pool, access logs off (RUST_LOG=warn) so the terminal is not what we measure.
export RUST_LOG=warn
export DOORWARD_DATABASE_URL=sqlite:$WORK/doorward.db

# First start creates the database, schema and signing key; stop it, then time a start on the
# existing database (exec -> first 200 from /healthz).
"$DW" serve --listen 127.0.0.1:$DW_PORT >"$WORK/first.log" 2>&1 & FIRST=$!; PIDS+=($FIRST)
wait_ready $BASE/healthz
stop $FIRST

t0=$(date +%s%N)
"$DW" serve --listen 127.0.0.1:$DW_PORT >"$WORK/doorward.log" 2>&1 & DW_PID=$!; PIDS+=($DW_PID)
wait_ready $BASE/healthz
READY_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
sleep 1
IDLE_RSS_KIB=$(proc_kib $DW_PID VmRSS)

export BENCH_EMAIL=bench@example.com BENCH_USERNAME=bench BENCH_PASSWORD='plinth-harbour-quietly-42'
TOKEN=$(curl -sf $BASE/v1/signup -H 'content-type: application/json' \
  -d "{\"email\":\"$BENCH_EMAIL\",\"password\":\"$BENCH_PASSWORD\"}" | jq -r .access_token)
[ -n "$TOKEN" ] && [ "$TOKEN" != null ] || { echo "signup failed" >&2; exit 1; }
curl -sf $BASE/.well-known/jwks.json >"$WORK/jwks.json"

"$GB" serve 127.0.0.1:$GB_PORT $BASE "$WORK/jwks.json" & GB_PID=$!; PIDS+=($GB_PID)
wait_ready http://127.0.0.1:$GB_PORT/bare
curl -sf http://127.0.0.1:$GB_PORT/guarded -H "authorization: Bearer $TOKEN" >/dev/null || { echo "guarded route refused the token" >&2; exit 1; }
AUTH="authorization: Bearer $TOKEN"

# The four throughput loads run in ROUNDS interleaved rounds (bare, guarded, guarded-shared,
# /v1/me, then again), and each target is the median of its rounds: on a 2-core VM one 10 s
# run now and then comes out 30 % low (the same binary: 71k, 49k, 72k req/s), and a ratio of
# two single runs would then say more about that moment than about the code.
echo "== Doorward: wrk -t1 -c$CONNS -d$DURATION, $ROUNDS interleaved rounds, median of each ($CORES cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
for r in $(seq 1 "$ROUNDS"); do
  load http://127.0.0.1:$GB_PORT/bare >"$WORK/bare-$r.txt"
  load -H "$AUTH" http://127.0.0.1:$GB_PORT/guarded >"$WORK/guarded-$r.txt"
  load -H "$AUTH" http://127.0.0.1:$GB_PORT/guarded-shared >"$WORK/shared-$r.txt"
  load -H "$AUTH" $BASE/v1/me >"$WORK/me-$r.txt"
  echo "round $r: bare $(rps <"$WORK/bare-$r.txt"), guarded $(rps <"$WORK/guarded-$r.txt"), guarded-shared $(rps <"$WORK/shared-$r.txt"), /v1/me $(rps <"$WORK/me-$r.txt") req/s"
done
median_run() { # name -> the file of the round with the median req/s
  for f in "$WORK/$1"-[0-9]*.txt; do echo "$(rps <"$f") $f"; done | sort -g | awk '{a[NR]=$2} END {print a[int((NR+1)/2)]}'
}
BARE=$(rps <"$(median_run bare)");                 echo "bare            $BARE req/s"
GUARDED=$(rps <"$(median_run guarded)");           echo "guarded         $GUARDED req/s"
SHARED=$(rps <"$(median_run shared)");             echo "guarded-shared  $SHARED req/s"
cp "$(median_run me)" "$WORK/me.txt"
ME=$(rps <"$WORK/me.txt"); ME_P99=$(p99_ms <"$WORK/me.txt");   echo "GET /v1/me      $ME req/s, p99 $ME_P99 ms"
cp "$(median_run bare)" "$WORK/bare.txt"
# One verify's time, measured just before and just after the login load (the mean of both:
# on a shared machine the CPU available to one core drifts).
ARGON_BEFORE=$("$GB" argon2 5)
load "${LONG[@]}" -s "$ROOT/bench/login.lua" $BASE/v1/login >"$WORK/login.txt"
ARGON_MS=$(awk -v a="$ARGON_BEFORE" -v b="$("$GB" argon2 5)" 'BEGIN {printf "%.1f", (a+b)/2}')
echo "argon2id verify $ARGON_MS ms (default parameters, one core; mean of before and after the login load)"
LOGIN=$(field OK_PER_SEC <"$WORK/login.txt"); LOGIN_P99=$(p99_ms <"$WORK/login.txt")
echo "POST /v1/login  $LOGIN ok/s, p99 $LOGIN_P99 ms ($(statuses <"$WORK/login.txt"))"
if [ "$MODE" = compare ]; then
  wrk -t1 -c$LOGIN_CONNS -d"$DURATION" --latency "${LONG[@]}" -s "$ROOT/bench/login.lua" $BASE/v1/login >"$WORK/login-c.txt"
  echo "POST /v1/login  $(field OK_PER_SEC <"$WORK/login-c.txt") ok/s, p99 $(p99_ms <"$WORK/login-c.txt") ms (-c$LOGIN_CONNS, for --compare)"
fi

# Isolation: FLOOD_CONNS login clients for DURATION+2 s; GET /v1/me latency measured alongside
# (8 connections) for DURATION, starting 1 s in.
flood() { # login_url protected_url out_prefix [header]
  wrk -t1 -c$FLOOD_CONNS -d$((SECS + 2))s "${LONG[@]}" -s "$ROOT/bench/login.lua" "$1" >"$3-flood.txt" & local f=$!
  sleep 1
  wrk -t1 -c8 -d"$DURATION" "${LONG[@]}" --latency -H "$4" "$2" >"$3-alongside.txt"
  wait $f
}
echo "== isolation: $FLOOD_CONNS login clients, GET /v1/me alongside (wrk -t1 -c8 --latency)"
flood $BASE/v1/login $BASE/v1/me "$WORK/dw" "$AUTH"
P99_MS=$(p99_ms <"$WORK/dw-alongside.txt")
FLOOD_STATUS=$(statuses <"$WORK/dw-flood.txt")
FLOOD_BAD=$(bad_statuses 200 429 503 <<<"$FLOOD_STATUS")
FLOOD_NORA=$(field NO_RETRY_AFTER <"$WORK/dw-flood.txt")
FLOOD_TIMEOUTS=$(timeouts <"$WORK/dw-flood.txt")
ME_FLOOD_BAD=$(( $(timeouts <"$WORK/dw-alongside.txt") + $(non2xx <"$WORK/dw-alongside.txt") ))
PEAK_RSS_KIB=$(proc_kib $DW_PID VmHWM)
echo "GET /v1/me p99 $P99_MS ms during the flood; flood answers: $FLOOD_STATUS; socket errors/timeouts $FLOOD_TIMEOUTS"
# 64 MiB + hashes in flight (the pool's default: one per core) x argon2 memory (19 MiB).
RSS_LIMIT_KIB=$(( 64*1024 + CORES*19456 ))

# Refresh: CONNS + 1 sessions (one account each; see bench/refresh.lua for the spare), one per
# wrk connection; every request uses the token the previous refresh of that session returned.
sessions() { # base_url label -> file of CONNS + 1 refresh tokens
  local out="$WORK/tokens-$2.txt" n=$((CONNS + 1))
  # Retries only what says "later" (429/503), for at most ~30 s per account; the last answer
  # of an account that never got in is printed.
  seq 1 $n | xargs -P "$CORES" -I{} bash -c '
    for _ in $(seq 1 60); do
      r=$(curl -s -m 20 -w "\n%{http_code}" "$0/v1/signup" -H "content-type: application/json" \
        -d "{\"email\":\"refresh-{}-$1@example.com\",\"password\":\"$2\"}")
      code=$(tail -n1 <<<"$r")
      [ "$code" = 201 ] && { head -n1 <<<"$r" | jq -r .refresh_token; exit 0; }
      case "$code" in 429|503) sleep 0.5 ;; *) break ;; esac
    done
    echo "signup {} for refresh ($1): $code $(head -n1 <<<"$r" | cut -c1-200)" >&2; exit 1' "$1" "$2" "$BENCH_PASSWORD" >"$out" || true
  if [ "$(grep -c . "$out")" != $n ]; then
    echo "refresh sessions ($2): $(grep -c . "$out")/$n signed up; server process alive: $(kill -0 "$3" 2>/dev/null && echo yes || echo no)" >&2
    exit 1
  fi
  echo "$out"
}
refresh_run() { # base_url label server_pid -> writes $WORK/refresh-label.txt
  local tokens; tokens=$(sessions "$1" "$2" "$3")
  load -s "$ROOT/bench/refresh.lua" "$1/v1/refresh" -- "$tokens" 1 >"$WORK/refresh-$2.txt"
  echo "POST /v1/refresh ($2) $(field OK_PER_SEC <"$WORK/refresh-$2.txt") ok/s, p99 $(p99_ms <"$WORK/refresh-$2.txt") ms ($(statuses <"$WORK/refresh-$2.txt"); reused $(field REUSED <"$WORK/refresh-$2.txt"))"
}
sleep 3   # let the flood's queued hashes drain before the next measurement
echo "== refresh: $CONNS sessions, wrk -t1 -c$CONNS -d$DURATION -s bench/refresh.lua"
refresh_run $BASE sqlite $DW_PID

# ---------------------------------------------------------------- Doorward (PostgreSQL)
if psql -q "$BENCH_PG_URL/postgres" -c "CREATE DATABASE $PG_DB" >/dev/null 2>"$WORK/pg.err"; then
  PG_CREATED=1
  PG_PORT=$(free_port)
  DOORWARD_DATABASE_URL=$BENCH_PG_URL/$PG_DB "$DW" serve --listen 127.0.0.1:$PG_PORT >"$WORK/doorward-pg.log" 2>&1 & PG_PID=$!; PIDS+=($PG_PID)
  wait_ready http://127.0.0.1:$PG_PORT/healthz
  refresh_run http://127.0.0.1:$PG_PORT postgres $PG_PID
  stop $PG_PID
  psql -q "$BENCH_PG_URL/postgres" -c "DROP DATABASE $PG_DB WITH (FORCE)" >/dev/null && PG_CREATED=0
else
  echo "PostgreSQL at $BENCH_PG_URL not usable: $(head -1 "$WORK/pg.err")" >&2
fi

row() { printf '%-44s %-24s %-20s %s\n' "$1" "$2" "$3" "$4"; }
pass() { awk "BEGIN { exit !($1) }" && echo PASS || echo FAIL; }
refresh_row() { # label
  local f="$WORK/refresh-$1.txt"
  if [ ! -f "$f" ]; then row "4 refresh/s ($1)" "not measured" ">= 2000, no reuse" "SKIP"; return; fi
  local ok reused bad
  ok=$(field OK_PER_SEC <"$f"); reused=$(field REUSED <"$f")
  bad=$(( $(statuses <"$f" | bad_statuses 200) + $(timeouts <"$f") ))   # a dry pool shows as 401s
  row "4 refresh/s ($1)" "$ok (non-200: $bad)" ">= 2000, no reuse" "$(pass "$ok >= 2000 && $reused == 0 && $bad == 0")"
}

echo
echo "== Doorward targets ($CORES cores, $(date -u +%Y-%m-%dT%H:%MZ), DURATION=$DURATION)"
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
row "3a /v1/me p99 during login flood" "${P99_MS} ms" "<= 10 ms" "$(pass "$P99_MS <= 10 && $ME_FLOOD_BAD == 0")"
row "3b flood errors other than 429/503" "$FLOOD_BAD (+$FLOOD_TIMEOUTS socket)" "0" "$(pass "$FLOOD_BAD + $FLOOD_TIMEOUTS == 0")"
row "3c 429/503 without Retry-After" "$FLOOD_NORA" "0" "$(pass "$FLOOD_NORA == 0")"
row "3d peak RSS" "$(mib $PEAK_RSS_KIB) MiB" "<= $((RSS_LIMIT_KIB/1024)) MiB" "$(pass "$PEAK_RSS_KIB <= $RSS_LIMIT_KIB")"
refresh_row sqlite
refresh_row postgres
row "5a idle RSS" "$(mib $IDLE_RSS_KIB) MiB" "<= 15 MiB" "$(pass "$IDLE_RSS_KIB <= 15*1024")"
row "5b start to ready (existing SQLite)" "$READY_MS ms" "<= 200 ms" "$(pass "$READY_MS <= 200")"
echo "flood answers: $FLOOD_STATUS"

if [ "$MODE" = targets ]; then
  echo "done in $(( $(date +%s) - T_START )) s"
  exit 0
fi

# ---------------------------------------------------------------- FastAPI peer
# The hand-written app of the authentication skill's FastAPI example (bench/peers/fastapi),
# uvicorn with one worker process per core: Python runs one core per process, and Doorward
# uses every core, so both get the whole machine.
PEER_DIR=$ROOT/bench/peers/fastapi
REQS=$PEER_DIR/requirements.txt
if ! cmp -s "$REQS" "$PEER_VENV/.requirements.txt" 2>/dev/null; then
  echo "== installing the FastAPI peer's packages into $PEER_VENV"
  python3 -m venv "$PEER_VENV"
  "$PEER_VENV/bin/pip" install -q --disable-pip-version-check -r "$REQS"
  cp "$REQS" "$PEER_VENV/.requirements.txt"
fi
stop $GB_PID
PEER_PORT=$(free_port)
PEER=http://127.0.0.1:$PEER_PORT
export PEER_DATABASE_URL=sqlite:///$WORK/peer.db PYTHONDONTWRITEBYTECODE=1
(cd "$PEER_DIR" && "$PEER_VENV/bin/python" -c 'import app; app.create_db()')
BCRYPT_MS=$(cd "$PEER_DIR" && "$PEER_VENV/bin/python" -c '
import time; from passlib.hash import bcrypt
h = bcrypt.hash("plinth-harbour-quietly-42"); n = 5; t = time.perf_counter()
for _ in range(n): bcrypt.verify("plinth-harbour-quietly-42", h)
print(round((time.perf_counter() - t) * 1000 / n, 1))')
t0=$(date +%s%N)
(cd "$PEER_DIR" && exec "$PEER_VENV/bin/uvicorn" app:app --host 127.0.0.1 --port $PEER_PORT \
  --workers "$CORES" --no-access-log --log-level warning) >"$WORK/peer.log" 2>&1 & PEER_PID=$!; PIDS+=($PEER_PID)
wait_ready $PEER/health
PEER_READY_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
sleep 1
PEER_IDLE_KIB=$(tree_kib $PEER_PID VmRSS)
curl -sf $PEER/signup -H 'content-type: application/json' \
  -d "{\"username\":\"$BENCH_USERNAME\",\"email\":\"$BENCH_EMAIL\",\"password\":\"$BENCH_PASSWORD\"}" >/dev/null
PEER_TOKEN=$(curl -sf $PEER/login -H 'content-type: application/json' \
  -d "{\"username\":\"$BENCH_USERNAME\",\"password\":\"$BENCH_PASSWORD\"}" | jq -r .access_token)
[ -n "$PEER_TOKEN" ] && [ "$PEER_TOKEN" != null ] || { echo "peer login failed" >&2; exit 1; }
PEER_AUTH="authorization: Bearer $PEER_TOKEN"
curl -sf $PEER/me -H "$PEER_AUTH" >/dev/null || { echo "peer /me refused the token" >&2; exit 1; }

echo
echo "== FastAPI peer: uvicorn --workers $CORES, wrk -t1 -c$CONNS -d$DURATION (load $(cut -d' ' -f1-3 /proc/loadavg))"
load $PEER/health >"$WORK/p-bare.txt";               echo "GET /health     $(rps <"$WORK/p-bare.txt") req/s"
load -H "$PEER_AUTH" $PEER/me >"$WORK/p-me.txt";     echo "GET /me         $(rps <"$WORK/p-me.txt") req/s, p99 $(p99_ms <"$WORK/p-me.txt") ms"
echo "bcrypt verify   $BCRYPT_MS ms (passlib default, 12 rounds, one core)"
BENCH_LOGIN_FIELD=username wrk -t1 -c$LOGIN_CONNS -d"$DURATION" --latency "${LONG[@]}" -s "$ROOT/bench/login.lua" $PEER/login >"$WORK/p-login.txt"
echo "POST /login     $(field OK_PER_SEC <"$WORK/p-login.txt") ok/s, p99 $(p99_text "$WORK/p-login.txt") (-c$LOGIN_CONNS; $(statuses <"$WORK/p-login.txt"))"
echo "== isolation: $FLOOD_CONNS login clients, GET /me alongside"
BENCH_LOGIN_FIELD=username flood $PEER/login $PEER/me "$WORK/p" "$PEER_AUTH"
PEER_TREE=($(tree_pids $PEER_PID))
PEER_PEAK_KIB=$(tree_kib $PEER_PID VmHWM)
echo "GET /me p99 $(p99_text "$WORK/p-alongside.txt") during the flood; flood answers: $(statuses <"$WORK/p-flood.txt"); socket errors/timeouts $(timeouts <"$WORK/p-flood.txt")"

crow() { printf '%-40s %-26s %-26s\n' "$1" "$2" "$3"; }
rate_p99() { echo "$(rps <"$1") /s, p99 $(p99_text "$1")"; }
ok_p99() { echo "$(field OK_PER_SEC <"$1") ok/s, p99 $(p99_text "$1")"; }
flood_errs() { # flood file -> answers other than 200/429/503, plus socket errors and timeouts
  echo "$(( $(statuses <"$1" | bad_statuses 200 429 503) + $(timeouts <"$1") ))"
}
echo
echo "== Doorward vs FastAPI peer ($CORES cores, $(date -u +%Y-%m-%dT%H:%MZ), wrk -t1 -c$CONNS -d$DURATION; both on SQLite)"
crow "" "Doorward" "FastAPI peer"
crow "bare route (no auth) req/s" "$(rps <"$WORK/bare.txt") (guardbench)" "$(rps <"$WORK/p-bare.txt") (/health)"
crow "protected route (token + user load)" "$(rate_p99 "$WORK/me.txt")" "$(rate_p99 "$WORK/p-me.txt")"
crow "login (-c$LOGIN_CONNS)" "$(ok_p99 "$WORK/login-c.txt")" "$(ok_p99 "$WORK/p-login.txt")"
crow "one password verify (one core)" "$ARGON_MS ms (argon2id)" "$BCRYPT_MS ms (bcrypt 12)"
eff() { awk -v ok="$(field OK_PER_SEC <"$1")" -v ms="$2" -v c="$CORES" 'BEGIN {printf "%.2fx of %.1f/s", ok*ms/(c*1000), c*1000/ms}'; }
crow "login / (cores / one verify)" "$(eff "$WORK/login-c.txt" "$ARGON_MS")" "$(eff "$WORK/p-login.txt" "$BCRYPT_MS")"
crow "refresh (rotating, SQLite)" "$(ok_p99 "$WORK/refresh-sqlite.txt")" "none (example has none)"
crow "protected p99, $FLOOD_CONNS-client login flood" "$(p99_text "$WORK/dw-alongside.txt")" "$(p99_text "$WORK/p-alongside.txt")"
crow "protected req/s during the flood" "$(rps <"$WORK/dw-alongside.txt")" "$(rps <"$WORK/p-alongside.txt")"
crow "flood: logins ok/s" "$(field OK_PER_SEC <"$WORK/dw-flood.txt")" "$(field OK_PER_SEC <"$WORK/p-flood.txt")"
crow "flood: errors (not 200/429/503)" "$(flood_errs "$WORK/dw-flood.txt")" "$(flood_errs "$WORK/p-flood.txt")"
crow "peak RSS (all processes)" "$(mib $PEAK_RSS_KIB) MiB" "$(mib $PEER_PEAK_KIB) MiB"
crow "idle RSS (all processes)" "$(mib $IDLE_RSS_KIB) MiB" "$(mib $PEER_IDLE_KIB) MiB"
crow "start to ready" "$READY_MS ms" "$PEER_READY_MS ms"
echo "done in $(( $(date +%s) - T_START )) s"
