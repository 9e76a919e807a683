#!/usr/bin/env bash
# The pages end to end in headless Chromium: flows.mjs (playwright-core,
# pinned in package.json) against a live `doorward serve` with a fresh SQLite
# file, a free loopback port, cheap argon2 and mail written to an outbox
# folder (the reset flow reads its link from there), and an administrator
# made with `doorward user create --admin` for the admin flows. Screenshots of the main
# pages land in tests/browser/artifacts/ (kept after the run, gitignored).
#
#   tests/browser/run.sh                  # builds the debug binary first
#   DOORWARD_BIN=target/debug/doorward tests/browser/run.sh
#   SKIP_MAIL=1 tests/browser/run.sh      # without the forgot/reset flow
#
# Installs Debian's chromium when /usr/bin/chromium is missing (browsers are
# not downloaded by Playwright) and the npm packages into this folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# ------------------------------------------------------------ chromium + npm
if [ ! -x /usr/bin/chromium ]; then
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version
(cd "$here" && { npm ci --no-audit --no-fund --silent 2>/dev/null || npm install --no-audit --no-fund --silent; })

# ------------------------------------------------------------ the server
if [ -z "${DOORWARD_BIN:-}" ]; then
  (cd "$root" && cargo build --quiet --locked -p doorward --bin doorward)
  DOORWARD_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/doorward"
fi
bin="$DOORWARD_BIN"
work="$(mktemp -d /tmp/doorward-browser.XXXXXX)"
port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
base="http://127.0.0.1:$port"
# An administrator for the admin flows, made as an operator would.
admin_email="admin@example.com"
admin_password="operator keeps the keys safe"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/outbox"
# Nothing from the caller's DOORWARD_* leaks in.
(
  cd "$work"
  for v in $(env | sed -n 's/^\(DOORWARD_[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done
  export DOORWARD_DATABASE_URL="sqlite:$work/doorward.db" \
    DOORWARD_ISSUER="$base" \
    DOORWARD_MAIL_OUTBOX_DIR="$work/outbox" \
    DOORWARD_PASSWORD_HASH_MEMORY_KIB=1024 DOORWARD_PASSWORD_HASH_ITERATIONS=1 \
    RUST_LOG="warn"
  printf '%s\n' "$admin_password" | "$bin" user create --email "$admin_email" --username admin --admin --password-stdin
  exec "$bin" serve --listen "127.0.0.1:$port"
) >"$work/serve.log" 2>&1 &
server_pid=$!
up=""
for _ in $(seq 1 150); do
  if node -e "fetch('$base/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" 2>/dev/null; then up=1; break; fi
  sleep 0.2
done
if [ -z "$up" ]; then
  echo "doorward did not start:" >&2
  cat "$work/serve.log" >&2
  exit 1
fi

# ------------------------------------------------------------ the flows
rm -rf "$here/artifacts"
status=0
DOORWARD_URL="$base" OUTBOX_DIR="$work/outbox" ARTIFACTS="$here/artifacts" \
  ADMIN_EMAIL="$admin_email" ADMIN_PASSWORD="$admin_password" \
  node "$here/flows.mjs" || status=$?
if [ "$status" != 0 ]; then
  echo "--- server log (last 40 lines)" >&2
  tail -n 40 "$work/serve.log" >&2
fi
exit "$status"
