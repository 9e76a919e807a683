#!/usr/bin/env bash
# Soak: a release `doorward serve` under a steady mix of every kind of request
# for 10 minutes, reporting every 30 s (requests, answers by status, unexpected
# answers, latency p50/p95/p99, RSS) and ending with PASS/FAIL: no unexpected
# answer, RSS did not grow after the warm-up, and `doorward audit verify` finds
# the audit chain intact. Not part of CI (too long).
#
#   tests/soak/run.sh                       # 600 s, SQLite, builds the release binary
#   SOAK_SECONDS=120 tests/soak/run.sh      # shorter
#   SOAK_ENGINE=postgres tests/soak/run.sh  # a fresh PostgreSQL database (SOAK_PG_URL)
#   DOORWARD_BIN=target/release/doorward SOAK_RATE=40 tests/soak/run.sh
#
# Knobs: SOAK_SECONDS (600), SOAK_RATE (20 operations/s), SOAK_CONCURRENCY (32),
# SOAK_REPORT (30 s), SOAK_ENGINE (sqlite|postgres), SOAK_PG_URL
# (postgres://postgres@127.0.0.1:5432, the server a fresh database is created on),
# SOAK_OUT (a file for the JSON summary). The password hash cost is the
# default one (the hasher's memory is part of what is measured). Needs python3
# (3.9+, standard library only), curl and cargo; psql/createdb for PostgreSQL.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

seconds="${SOAK_SECONDS:-600}"
rate="${SOAK_RATE:-20}"
engine="${SOAK_ENGINE:-sqlite}"
pg_url="${SOAK_PG_URL:-postgres://postgres@127.0.0.1:5432}"

if [ -z "${DOORWARD_BIN:-}" ]; then
  (cd "$root" && cargo build --quiet --locked --release -p doorward --bin doorward)
  DOORWARD_BIN="${CARGO_TARGET_DIR:-$root/target}/release/doorward"
fi
bin="$DOORWARD_BIN"
work="$(mktemp -d /tmp/doorward-soak.XXXXXX)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
server_pid=""
pg_db=""

case "$engine" in
  sqlite) db_url="sqlite:$work/doorward.db" ;;
  postgres)
    pg_db="doorward_soak_$$_$(date +%s)"
    createdb -d "$pg_url/postgres" "$pg_db" 2>/dev/null || psql "$pg_url/postgres" -qc "CREATE DATABASE $pg_db"
    db_url="$pg_url/$pg_db" ;;
  *) echo "SOAK_ENGINE=$engine: expected sqlite or postgres" >&2; exit 2 ;;
esac

cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$pg_db" ]; then psql "$pg_url/postgres" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Nothing from the caller's DOORWARD_* leaks in. Throttling per address stays
# at its default (the wrong-password logins meet it: 401 then 429); the per-IP
# limit is raised, since every request comes from 127.0.0.1.
(
  cd "$work"
  for v in $(env | sed -n 's/^\(DOORWARD_[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done
  export DOORWARD_DATABASE_URL="$db_url" \
    DOORWARD_ISSUER="$base" \
    DOORWARD_MAIL_OUTBOX_DIR="$work/outbox" \
    DOORWARD_THROTTLE_IP_FAILURES=1000000000 \
    RUST_LOG="warn"
  exec "$bin" serve --listen "127.0.0.1:$port"
) >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "serve exited:"; cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null || { echo "serve not healthy:"; cat "$work/serve.log"; exit 1; }
echo "soak: $engine, $seconds s at $rate/s against $base (pid $server_pid, $(basename "$bin") $("$bin" --version 2>/dev/null || true))"

status=0
python3 "$here/load.py" --port "$port" --pid "$server_pid" --seconds "$seconds" --rate "$rate" \
  --concurrency "${SOAK_CONCURRENCY:-32}" --report "${SOAK_REPORT:-30}" \
  ${SOAK_OUT:+--json "$SOAK_OUT"} || status=$?

kill -0 "$server_pid" 2>/dev/null || { echo "the server died"; status=1; }
if grep -q 'panicked' "$work/serve.log"; then
  echo "the server panicked:"; grep -A5 'panicked' "$work/serve.log"; status=1
fi
# The audit log's hash chain, written by every request of the soak while the
# server still runs (on PostgreSQL rows are linked after their commit; the
# check links what is pending, then walks the chain).
if (
  cd "$work"
  for v in $(env | sed -n 's/^\(DOORWARD_[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done
  DOORWARD_DATABASE_URL="$db_url" RUST_LOG=warn exec "$bin" audit verify
) >"$work/verify.txt" 2>&1; then
  echo "audit chain: $(head -n 1 "$work/verify.txt")"
else
  echo "audit chain broken:"; cat "$work/verify.txt"; status=1
fi
errors="$(grep -c '"level":"ERROR"\| ERROR ' "$work/serve.log" || true)"
echo "server log: $(wc -l <"$work/serve.log") lines, $errors at ERROR"
if [ "$status" -ne 0 ]; then echo "--- serve log (last 30 lines) ---"; tail -n 30 "$work/serve.log"; fi
exit "$status"
