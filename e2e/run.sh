#!/usr/bin/env bash
# Runs the browser tests against a real reelm server.
#
#   REELM_BIN   path to the release binary (default ../target/release/reelm); built elsewhere
#   CHROMIUM    browser to drive (default /usr/bin/chromium, Debian's package)
#
# Starts `reelm demo` on a free loopback port with a throw-away data directory, waits for
# /api/health, runs `node --test`, and always stops the server again.
set -euo pipefail
cd "$(dirname "$0")"

REELM_BIN="${REELM_BIN:-../target/release/reelm}"
if [[ ! -x "$REELM_BIN" ]]; then
  echo "e2e: reelm binary not found at $REELM_BIN (build it with: cargo build --release)" >&2
  exit 1
fi
REELM_BIN="$(cd "$(dirname "$REELM_BIN")" && pwd)/$(basename "$REELM_BIN")"
if [[ ! -d node_modules/playwright-core ]]; then
  npm ci --no-audit --no-fund
fi

DATA_DIR="$(mktemp -d -t reelm-e2e.XXXXXX)"
PORT="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
URL="http://127.0.0.1:${PORT}"
mkdir -p artifacts
rm -f artifacts/*.png # screenshots of an earlier run would mislead
SERVER_LOG="artifacts/server.log"

SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA_DIR"
}
trap cleanup EXIT INT TERM

"$REELM_BIN" demo --data-dir "$DATA_DIR" --addr "127.0.0.1:${PORT}" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

# The demo seeds media on first start; give it up to two minutes on a slow machine.
for _ in $(seq 1 240); do
  if curl -fsS "$URL/api/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "e2e: the server exited early; its log:" >&2
    cat "$SERVER_LOG" >&2
    exit 1
  fi
  sleep 0.5
done
if ! curl -fsS "$URL/api/health" >/dev/null 2>&1; then
  echo "e2e: the server did not become healthy at $URL; its log:" >&2
  tail -50 "$SERVER_LOG" >&2
  exit 1
fi
echo "e2e: server ready at $URL"

REELM_E2E_URL="$URL" node --test --test-concurrency=1 tests/*.test.js
