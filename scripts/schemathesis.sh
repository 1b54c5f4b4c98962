#!/usr/bin/env bash
# Runs schemathesis (PyPI) against the served OpenAPI document of a live coupon-book
# with an admin key: every operation gets generated valid and invalid requests, and
# the run fails on any 5xx or any answer the document does not describe (status,
# content type, headers, body schema).
#
#   scripts/schemathesis.sh [binary] [max examples per operation]
#
# One worker: CPython 3.11.7 (this machine's) can fail inside ast.parse when
# hypothesis describes strategies from two threads at once.
# schemathesis is installed once into a virtualenv under target/. Bounded: by default
# 30 examples per operation in one pass of each phase, and the run is stopped (and
# fails) after SCHEMATHESIS_MAX_TIME seconds (600).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${1:-target/debug/coupon-book}"
EXAMPLES="${2:-${SCHEMATHESIS_EXAMPLES:-30}}"
MAX_TIME="${SCHEMATHESIS_MAX_TIME:-600}"
SCHEMATHESIS_VERSION=4.32.5
VENV="$PWD/target/schemathesis-venv"

BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
if [ ! -x "$BIN" ]; then
  echo "no server binary at $BIN: run cargo build --bins first" >&2
  exit 1
fi
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION (once) into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

WORK="$(mktemp -d -t coupon-book-st.XXXXXX)"
# shellcheck source=scripts/lib/server.sh
source scripts/lib/server.sh
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT

KEY="cb_schemathesis_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# Unknown codes are the fuzzer's daily bread: the code-guessing limit would answer
# (documented) 429s instead of exercising the handlers, so it is off here. Generated
# webhook URLs name arbitrary public hosts: delivery is off so nothing is ever sent.
start_server "$BIN" "$WORK" st \
  COUPON_BOOK_BOOTSTRAP_ADMIN_KEY="$KEY" \
  COUPON_BOOK_UNKNOWN_CODE_LIMIT_PER_MINUTE=0 \
  COUPON_BOOK_WEBHOOK_DELIVERY=off \
  COUPON_BOOK_SPOOL_DIR="$WORK/spool" || exit 1
echo "schemathesis $SCHEMATHESIS_VERSION against http://$ADDR (max $EXAMPLES examples per operation, stopped after $MAX_TIME s)" >&2

status=0
# From the scratch directory: schemathesis keeps a cache in its working directory.
cd "$WORK"
timeout "$MAX_TIME" "$VENV/bin/st" run "http://$ADDR/openapi.json" \
  --header "Authorization: Bearer $KEY" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --max-examples "$EXAMPLES" \
  --seed "${SCHEMATHESIS_SEED:-20261125}" \
  --workers 1 \
  --request-timeout 30 \
  --suppress-health-check all \
  --warnings off \
  --no-color \
  --output-sanitize true || status=$?

if [ "$status" -ne 0 ]; then
  echo "last server log lines:" >&2
  tail -20 "$WORK/stderr" >&2
fi
if grep -q '"level":"ERROR"' "$WORK/stderr"; then
  echo "the server logged errors during the run:" >&2
  grep '"level":"ERROR"' "$WORK/stderr" | head -20 >&2
  status=1
fi
exit "$status"
