#!/usr/bin/env bash
# Saves a PNG of the demo experiment's report page as headless Chromium
# renders it. Usage: scripts/screenshot.sh [out.png] (default bin/report.png).
# It runs `splitcast demo` on a free loopback port (with the local ClickHouse,
# or SPLITCAST_CLICKHOUSE_ADDR), shoots the page, then stops the demo.
set -euo pipefail
out=${1:-bin/report.png}
bin=${SPLITCAST_BIN:-bin/splitcast}
width=${SCREENSHOT_WIDTH:-1400}
height=${SCREENSHOT_HEIGHT:-2200}
chromium=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$chromium" ]; then
  echo "screenshot: chromium is not installed: scripts/deps.sh browser" >&2
  exit 1
fi
tmp=$(mktemp -d)
log="$tmp/demo.out"
"$bin" demo -addr 127.0.0.1:0 >"$log" 2>"$tmp/demo.err" &
pid=$!
cleanup() {
  kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 240); do
  grep -q '^Report page: ' "$log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" "$tmp/demo.err" >&2; echo "screenshot: the demo failed" >&2; exit 1; }
  sleep 0.5
done
url=$(sed -n 's/^Report page: //p' "$log")
[ -n "$url" ] || { echo "screenshot: the demo printed no page URL in 2 minutes" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-background-networking \
  --user-data-dir="$tmp/chromium" --window-size="$width,$height" --screenshot="$(realpath -m "$out")" "$url" 2>"$tmp/chromium.err" >/dev/null
[ -s "$out" ] || { cat "$tmp/chromium.err" >&2; echo "screenshot: chromium wrote no $out" >&2; exit 1; }
echo "screenshot: $out (${width}x${height}) of $url"
