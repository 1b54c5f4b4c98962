#!/usr/bin/env bash
# Runs the whole coupon-book test suite: unit and conformance tests of every store
# backend, and the black-box HTTP tests against a real server process.
# It installs and starts whatever the tests need by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "cargo is needed: install Rust from your package manager or rustup" >&2
  exit 1
fi

# --- A local DynamoDB-compatible server for the DynamoDB backend's tests -------------
# dynoxide (SQLite-backed, MIT/Apache-2.0) runs as its own process: its bundled SQLite
# cannot be linked into the test binary next to ours. It is built once into target/.
DYNOXIDE_VERSION=3.2.0
DYNOXIDE_ROOT="$PWD/target/tools/dynoxide-$DYNOXIDE_VERSION"
DYNOXIDE="$DYNOXIDE_ROOT/bin/dynoxide"
if [ ! -x "$DYNOXIDE" ]; then
  echo "installing dynoxide-rs $DYNOXIDE_VERSION (once) into $DYNOXIDE_ROOT" >&2
  cargo install "dynoxide-rs@$DYNOXIDE_VERSION" --locked --no-default-features \
    --features native-sqlite,http-server,cli --root "$DYNOXIDE_ROOT"
fi

port_is_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

DYNOXIDE_PID=""
DYNOXIDE_LOG="$(mktemp -t dynoxide.XXXXXX.log)"
stop_dynoxide() {
  if [ -n "$DYNOXIDE_PID" ]; then
    kill "$DYNOXIDE_PID" 2>/dev/null || true
    wait "$DYNOXIDE_PID" 2>/dev/null || true
  fi
  rm -f "$DYNOXIDE_LOG"
}
trap stop_dynoxide EXIT

for _ in $(seq 1 20); do
  port=$((20000 + RANDOM % 40000))
  port_is_free "$port" || continue
  # In memory: every test makes its own table, and nothing is kept afterwards.
  "$DYNOXIDE" serve --host 127.0.0.1 --port "$port" --log quiet >"$DYNOXIDE_LOG" 2>&1 &
  DYNOXIDE_PID=$!
  for _ in $(seq 1 100); do
    if ! kill -0 "$DYNOXIDE_PID" 2>/dev/null; then
      DYNOXIDE_PID=""
      break
    fi
    if ! port_is_free "$port"; then
      break
    fi
    sleep 0.05
  done
  if [ -n "$DYNOXIDE_PID" ] && ! port_is_free "$port"; then
    break
  fi
  if [ -n "$DYNOXIDE_PID" ]; then
    kill "$DYNOXIDE_PID" 2>/dev/null || true
  fi
  DYNOXIDE_PID=""
done
if [ -z "$DYNOXIDE_PID" ]; then
  echo "could not start dynoxide:" >&2
  cat "$DYNOXIDE_LOG" >&2
  exit 1
fi
export COUPON_BOOK_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
# Test tables have no stream: dynoxide finds a stream's next sequence number by
# scanning every stream record it holds, which makes each write slower than the last
# (10,000 codes uploaded: 17 s into a new table, 300 s after 40,000 more; without a
# stream 2.3 s every time). Nothing here reads the stream; the Lambda streams tests
# give the function stream records of their own.
export COUPON_BOOK_DYNAMODB_STREAM=off
echo "dynoxide $DYNOXIDE_VERSION serving DynamoDB at $COUPON_BOOK_TEST_DYNAMODB_ENDPOINT" >&2

# The HTTP tests start the real binary (target/debug/coupon-book; so do schemathesis
# and the console test below); build it with the tests once up front. Built with them,
# not by `cargo build --bins`, it gets their dependency features (the dev-dependencies
# add some), so the crate is not compiled twice.
cargo test --all-targets --no-run
cargo test --all-targets "$@"

# The black-box HTTP suites once more, against the DynamoDB store (the bulk-code suite
# at a tenth of its size there: 100,000 codes instead of a million). The integration
# tests are one binary (tests/it/): a filter per suite, by module path. This script's
# own arguments go to cargo up to a `--`, and after it to the test binary, next to the
# suite filters.
cargo_args=()
test_args=()
after_separator=false
for arg in "$@"; do
  if [ "$after_separator" = false ] && [ "$arg" = "--" ]; then
    after_separator=true
  elif [ "$after_separator" = true ]; then
    test_args+=("$arg")
  else
    cargo_args+=("$arg")
  fi
done
# The two bulk jobs of 12,000 and 30,000 lines run on the embedded store only: on the
# local DynamoDB emulator a bulk assign applies some 20-40 lines a second (a
# transaction per line), too slow for this pass; the DynamoDB store's resume of a batch
# is covered by the conformance suite.
COUPON_BOOK_TEST_STORE=dynamodb cargo test --test it "${cargo_args[@]}" -- "${test_args[@]}" \
  http_audit:: http_books:: http_coupons:: http_bad_input:: http_concurrency:: http_ops:: crash:: \
  webhooks:: http_codes:: http_security:: http_redemptions:: http_bulk:: http_keys:: http_book_limits:: \
  http_rewards:: http_checkout:: \
  --skip http_bulk::a_large_bulk_assign_runs_in_the_background \
  --skip http_bulk::bulk_assign_resumes_after_kill9_without_repeating_a_line

# The served OpenAPI document itself: valid OpenAPI (openapi-spec-validator) and free
# of Redocly lint errors (redocly.yaml); both tools installed once under target/tools/.
scripts/spec-lint.sh target/debug/coupon-book

# The client libraries (clients/): the committed TypeScript and Python clients must be
# exactly what the served document generates (a drift check), and each drives the main
# flow against a live server; generators and test runners installed once under target/tools/.
scripts/clients.sh check target/debug/coupon-book
scripts/clients.sh test target/debug/coupon-book

# The served OpenAPI document against the live server: schemathesis (PyPI, installed
# once under target/) sends generated requests to every operation with an admin key;
# any 5xx or any answer the document does not describe fails the run.
scripts/schemathesis.sh target/debug/coupon-book

# The AWS SAM template (infra/template.yaml): cfn-lint, installed once under target/.
scripts/cfn-lint.sh

# The admin console in a real browser (Debian's chromium + playwright-core, installed
# on first use) against a live server; screenshots in target/console-screens/.
scripts/console-test.sh target/debug/coupon-book
