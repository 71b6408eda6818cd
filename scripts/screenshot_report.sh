#!/usr/bin/env bash
# Full-page screenshot of a suite report in headless Chromium (Debian's `chromium` package),
# to look at the report the way a reader does. Usage:
#   scripts/screenshot_report.sh runs/review/report.html [report.png] [height]
set -euo pipefail
report="$(realpath "${1:-runs/review/report.html}")"
out="$(realpath -m "${2:-${report%.html}.png}")"
height="${3:-5000}"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
  --hide-scrollbars --window-size=1400,"$height" --screenshot="$out" "file://$report" \
  2>/dev/null
echo "screenshot: $out"
