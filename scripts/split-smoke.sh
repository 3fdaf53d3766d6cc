#!/usr/bin/env bash
# Smoke test of cells as separate processes: `reelm certs init`, then one `reelm serve
# --region R` process per region, talking over mutual TLS. A US resident signs up at the EU
# edge (forwarded to the US cell), reads where their data lives through the AP edge, and an
# anonymous For You page is served by every edge. Usage: scripts/split-smoke.sh [BINARY]
set -euo pipefail
bin="${1:-target/release/reelm}"
dir="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
export REELM_DATA_DIR="$dir" REELM_LOG=warn
export REELM_REGION_US_CELL_ADDR=127.0.0.1:17443 REELM_REGION_EU_CELL_ADDR=127.0.0.1:17444 \
  REELM_REGION_AP_CELL_ADDR=127.0.0.1:17445
"$bin" certs init >/dev/null
declare -A port=([us]=18080 [eu]=18081 [ap]=18082)
for r in us eu ap; do
  "$bin" serve --region "$r" --addr "127.0.0.1:${port[$r]}" >"$dir/$r.log" 2>&1 &
  pids+=("$!")
done
for r in us eu ap; do
  for _ in $(seq 1 50); do
    curl -sf "127.0.0.1:${port[$r]}/api/health" >/dev/null && break
    sleep 0.2
  done
  curl -sf "127.0.0.1:${port[$r]}/api/health" >/dev/null || { cat "$dir/$r.log"; exit 1; }
done
fail() { echo "split smoke: $*" >&2; for r in us eu ap; do echo "--- $r"; cat "$dir/$r.log"; done; exit 1; }
signup=$(curl -s -c "$dir/jar" -H 'content-type: application/json' \
  -d '{"handle":"ann_split","email":"ann@example.org","password":"a long password","birth_date":"1990-04-02","country":"US"}' \
  "127.0.0.1:${port[eu]}/api/auth/signup")
grep -q '"region":"us"' <<<"$signup" || fail "sign-up at the EU edge: $signup"
where=$(curl -s -b "$dir/jar" "127.0.0.1:${port[ap]}/api/me/data-location")
grep -q '"region":"us"' <<<"$where" || fail "data location through the AP edge: $where"
for r in us eu ap; do
  curl -sf "127.0.0.1:${port[$r]}/api/feed/foryou?limit=3" >/dev/null || fail "For You at $r"
done
echo "split smoke: three cell processes over mutual TLS: ok"
