#!/usr/bin/env bash
# Browser tests of the admin console (/console): Debian's chromium driven by
# playwright-core (npm, pinned in tests/console/package-lock.json) against a real
# server on a fresh SQLite store. Saves screenshots to target/console-screens/.
#
#   scripts/console-test.sh [binary]
#
# Installs what it needs: chromium through apt when /usr/bin/chromium is missing,
# and the npm packages into tests/console/node_modules. Bounded by
# CONSOLE_TEST_MAX_TIME seconds (180).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${1:-target/debug/coupon-book}"
MAX_TIME="${CONSOLE_TEST_MAX_TIME:-180}"
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
if [ ! -x "$BIN" ]; then
  echo "no server binary at $BIN: run cargo build --bins first" >&2
  exit 1
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium (once)" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "installing nodejs and npm (once)" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
    break
  fi
done

(cd tests/console && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

WORK="$(mktemp -d -t coupon-book-console.XXXXXX)"
# shellcheck source=scripts/lib/server.sh
source scripts/lib/server.sh
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/spool"
KEY="cb_console_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
start_server "$BIN" "$WORK" console \
  COUPON_BOOK_BOOTSTRAP_ADMIN_KEY="$KEY" \
  COUPON_BOOK_WEBHOOK_DELIVERY=off \
  COUPON_BOOK_SPOOL_DIR="$WORK/spool" || exit 1
echo "console tests against http://$ADDR (chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'))" >&2

mkdir -p target/console-screens
status=0
CONSOLE_URL="http://$ADDR" CONSOLE_KEY="$KEY" CONSOLE_SCREENS="$PWD/target/console-screens" \
CONSOLE_TMP="$WORK" \
  timeout "$MAX_TIME" node --test --test-concurrency=1 tests/console/pattern.test.mjs tests/console/console.test.mjs || status=$?

if [ "$status" -ne 0 ]; then
  echo "last server log lines:" >&2
  tail -20 "$WORK/stderr" >&2
fi
exit "$status"
