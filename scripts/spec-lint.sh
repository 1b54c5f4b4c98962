#!/usr/bin/env bash
# Checks the served OpenAPI document of a live coupon-book: openapi-spec-validator
# (PyPI) for validity against the OpenAPI 3.1 schema (every $ref must resolve), then
# Redocly CLI (npm) `lint` with its `recommended` rules and the repository's
# redocly.yaml. Any error fails; Redocly's warnings are shown but do not.
#
#   scripts/spec-lint.sh [binary]
#
# Both tools are pinned and installed once under target/tools/ (a virtualenv and an
# npm prefix): only python3 with venv/pip and node with npm are needed.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${1:-target/debug/coupon-book}"
VALIDATOR_VERSION=0.9.0
REDOCLY_VERSION=2.77.0
VENV="$PWD/target/tools/openapi-spec-validator-$VALIDATOR_VERSION"
REDOCLY_PREFIX="$PWD/target/tools/redocly"
REDOCLY="$REDOCLY_PREFIX/node_modules/.bin/redocly"

# shellcheck source=scripts/lib/server.sh
source scripts/lib/server.sh
BIN="$(absolute_server_binary "$BIN")" || exit 1
require_tools python3 node npm || exit 1

if ! "$VENV/bin/openapi-spec-validator" --help >/dev/null 2>&1; then
  echo "installing openapi-spec-validator $VALIDATOR_VERSION (once) into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "openapi-spec-validator==$VALIDATOR_VERSION"
fi
# No telemetry and no update check: the lint runs offline once installed.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
if [ "$("$REDOCLY" --version 2>/dev/null || true)" != "$REDOCLY_VERSION" ]; then
  echo "installing @redocly/cli $REDOCLY_VERSION (once) into $REDOCLY_PREFIX" >&2
  mkdir -p "$REDOCLY_PREFIX"
  npm install --prefix "$REDOCLY_PREFIX" --no-audit --no-fund --loglevel=error \
    "@redocly/cli@$REDOCLY_VERSION"
fi

WORK="$(mktemp -d -t coupon-book-spec-lint.XXXXXX)"
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT

start_server "$BIN" "$WORK" spec || exit 1
# Fetched with Python: curl need not be installed.
"$VENV/bin/python" - "http://$ADDR/openapi.json" "$WORK/openapi.json" <<'PY'
import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=30) as answer:
    body = answer.read()
with open(sys.argv[2], "wb") as out:
    out.write(body)
PY
stop_server

echo "openapi-spec-validator $VALIDATOR_VERSION: /openapi.json" >&2
# Its message for an unresolved $ref quotes the whole document: lines are cut short.
if ! found="$("$VENV/bin/openapi-spec-validator" --validation-errors all "$WORK/openapi.json" 2>&1)"; then
  printf '%s\n' "$found" | cut -c -400 >&2
  echo "openapi-spec-validator: the served document is not valid OpenAPI" >&2
  exit 1
fi
printf '%s\n' "$found" >&2

echo "redocly $REDOCLY_VERSION lint (redocly.yaml): /openapi.json" >&2
"$REDOCLY" lint --config "$PWD/redocly.yaml" --format stylish "$WORK/openapi.json"
echo "spec-lint: valid, no lint errors" >&2
