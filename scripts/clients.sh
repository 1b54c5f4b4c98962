#!/usr/bin/env bash
# The client libraries, generated from the OpenAPI document a coupon-book binary serves:
#
#   clients/openapi.json     the document itself (pretty-printed)
#   clients/typescript/      src/schema.ts (openapi-typescript) under openapi-fetch,
#                            compiled with tsc into dist/
#   clients/python/          coupon_book_client/ (openapi-python-client)
#
#   scripts/clients.sh generate [binary]  regenerate all of the above
#   scripts/clients.sh check [binary]     regenerate into a scratch directory and fail
#                                         if the committed files differ (drift)
#   scripts/clients.sh test [binary]      each client's tests (node --test, pytest)
#                                         against a live server
#
# The binary defaults to target/debug/coupon-book. The generators, TypeScript and
# pytest are pinned (clients/typescript/package-lock.json,
# clients/python/requirements-tools.txt) and installed once under target/tools/: only
# python3 (3.11 or later, with venv and pip) and node (18 or later) with npm are needed.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/clients.sh generate|check|test [binary]" >&2
}
ACTION="${1:-}"
case "$ACTION" in
  generate | check | test) ;;
  *)
    usage
    exit 2
    ;;
esac
BIN="${2:-target/debug/coupon-book}"
# shellcheck source=scripts/lib/server.sh
source scripts/lib/server.sh
BIN="$(absolute_server_binary "$BIN")" || exit 1
require_tools python3 node npm || exit 1
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "python3 is $(python3 --version 2>&1): openapi-python-client needs 3.11 or later" >&2
  exit 1
fi

REPO="$PWD"
TS_DIR="$REPO/clients/typescript"
PY_DIR="$REPO/clients/python"
TS_TOOLS="$REPO/target/tools/clients-typescript"
PY_TOOLS="$REPO/target/tools/clients-python"

WORK="$(mktemp -d -t coupon-book-clients.XXXXXX)"
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
# Says how long a step took: `took LABEL START`.
took() {
  awk -v label="$1" -v start="$2" -v end="$(now)" \
    'BEGIN { printf "clients: %s in %.1f s\n", label, end - start }' >&2
}

# Node tools: exactly the package's lockfile (generator, compiler, runtime, types).
ensure_ts_tools() {
  if cmp -s "$TS_DIR/package-lock.json" "$TS_TOOLS/package-lock.json" &&
    cmp -s "$TS_DIR/package.json" "$TS_TOOLS/package.json" &&
    [ -x "$TS_TOOLS/node_modules/.bin/tsc" ]; then
    return 0
  fi
  local start
  start="$(now)"
  echo "installing the TypeScript client's tools (clients/typescript/package-lock.json) into $TS_TOOLS" >&2
  rm -rf "$TS_TOOLS"
  mkdir -p "$TS_TOOLS"
  cp "$TS_DIR/package.json" "$TS_DIR/package-lock.json" "$TS_TOOLS/"
  (cd "$TS_TOOLS" && npm ci --no-audit --no-fund --loglevel=error --ignore-scripts)
  took "TypeScript tools installed" "$start"
}

# Python tools: openapi-python-client, ruff and pytest, as pinned.
ensure_py_tools() {
  if cmp -s "$PY_DIR/requirements-tools.txt" "$PY_TOOLS/requirements-tools.txt" &&
    [ -x "$PY_TOOLS/bin/openapi-python-client" ]; then
    return 0
  fi
  local start
  start="$(now)"
  echo "installing the Python client's tools (clients/python/requirements-tools.txt) into $PY_TOOLS" >&2
  rm -rf "$PY_TOOLS"
  python3 -m venv "$PY_TOOLS"
  "$PY_TOOLS/bin/pip" install --quiet --disable-pip-version-check \
    -r "$PY_DIR/requirements-tools.txt"
  # Written last: an interrupted install is redone next time.
  cp "$PY_DIR/requirements-tools.txt" "$PY_TOOLS/"
  took "Python tools installed" "$start"
}

KEY="cb_clients_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
start_clients_server() {
  # Webhook delivery off and the upload spool in the scratch directory: nothing of
  # the run is left behind or sent anywhere.
  start_server "$BIN" "$WORK" clients \
    COUPON_BOOK_BOOTSTRAP_ADMIN_KEY="$KEY" \
    COUPON_BOOK_WEBHOOK_DELIVERY=off \
    COUPON_BOOK_SPOOL_DIR="$WORK/spool"
}

# The served document, pretty-printed in the order served (stable for one binary).
fetch_spec() {
  local out="$1" start
  start="$(now)"
  start_clients_server || exit 1
  python3 - "http://$ADDR/openapi.json" "$out" <<'PY'
import json
import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=30) as answer:
    document = json.load(answer)
with open(sys.argv[2], "w", encoding="utf-8") as out:
    json.dump(document, out, indent=2, ensure_ascii=False)
    out.write("\n")
PY
  stop_server
  took "OpenAPI document fetched from $(basename "$BIN") serve" "$start"
}

# Builds both clients from STAGE/openapi.json into STAGE/typescript and STAGE/python,
# with the committed hand-written parts (package files, src/index.ts).
build_clients() {
  local stage="$1" ts="$1/typescript" start
  start="$(now)"
  mkdir -p "$ts"
  cp "$TS_DIR/package.json" "$TS_DIR/tsconfig.json" "$ts/"
  cp -r "$TS_DIR/src" "$ts/src"
  rm -f "$ts/src/schema.ts"
  ln -s "$TS_TOOLS/node_modules" "$ts/node_modules"
  # From the scratch directory: openapi-typescript would read a redocly.yaml in the
  # working directory. Empty objects (free-form metadata) are Record<string, unknown>;
  # a property with a default stays optional in request bodies unless it is required.
  if ! (cd "$ts" && node_modules/.bin/openapi-typescript ../openapi.json \
    --output src/schema.ts --root-types --root-types-no-schema-prefix \
    --empty-objects-unknown --default-non-nullable false >"$stage/openapi-typescript.log" 2>&1); then
    cat "$stage/openapi-typescript.log" >&2
    echo "openapi-typescript failed" >&2
    exit 1
  fi
  (cd "$ts" && node_modules/.bin/tsc -p tsconfig.json)
  took "TypeScript client generated and compiled" "$start"

  start="$(now)"
  # ruff (the generator's formatter) must be on PATH, or formatting is skipped.
  if ! PATH="$PY_TOOLS/bin:$PATH" "$PY_TOOLS/bin/openapi-python-client" generate \
    --path "$stage/openapi.json" --config "$PY_DIR/openapi-python-client.yaml" \
    --meta none --output-path "$stage/python/coupon_book_client" \
    >"$stage/openapi-python-client.log" 2>&1 ||
    grep -q -e "Skipping Integration" -e " failed" "$stage/openapi-python-client.log"; then
    cat "$stage/openapi-python-client.log" >&2
    echo "openapi-python-client failed" >&2
    exit 1
  fi
  # The one known gap: text/csv upload bodies are not supported by the generator.
  grep "Endpoint will not be generated" "$stage/openapi-python-client.log" |
    sed 's/^/openapi-python-client: /' >&2 || true
  took "Python client generated" "$start"
}

# The generated paths, relative to clients/.
GENERATED=(openapi.json typescript/src/schema.ts typescript/dist python/coupon_book_client)

generate_or_check() {
  ensure_ts_tools
  ensure_py_tools
  local stage="$WORK/clients"
  mkdir -p "$stage"
  fetch_spec "$stage/openapi.json"
  build_clients "$stage"
  if [ "$ACTION" = generate ]; then
    for path in "${GENERATED[@]}"; do
      rm -rf "clients/$path"
      mkdir -p "$(dirname "clients/$path")"
      cp -r "$stage/$path" "clients/$path"
    done
    echo "clients: regenerated ${GENERATED[*]/#/clients/}" >&2
    return 0
  fi
  local drift=()
  for path in "${GENERATED[@]}"; do
    if ! diff -r -u -x __pycache__ "clients/$path" "$stage/$path" >"$WORK/drift.diff" 2>&1; then
      drift+=("clients/$path")
      head -40 "$WORK/drift.diff" >&2
    fi
  done
  if [ "${#drift[@]}" -gt 0 ]; then
    echo "clients: not what the served document and the clients' sources generate: ${drift[*]}" >&2
    echo "run scripts/clients.sh generate $BIN and commit the result" >&2
    exit 1
  fi
  echo "clients: the committed clients match the served document" >&2
}

run_tests() {
  ensure_ts_tools
  ensure_py_tools
  local status=0 start ts="$WORK/typescript"
  start_clients_server || exit 1
  echo "clients: testing against http://$ADDR" >&2

  # The committed package as users get it (dist/), imported by its name.
  start="$(now)"
  mkdir -p "$ts"
  cp -r "$TS_DIR/package.json" "$TS_DIR/tsconfig.json" "$TS_DIR/tsconfig.test.json" \
    "$TS_DIR/dist" "$TS_DIR/test" "$ts/"
  ln -s "$TS_TOOLS/node_modules" "$ts/node_modules"
  if (cd "$ts" && node_modules/.bin/tsc -p tsconfig.test.json); then
    (cd "$ts" && COUPON_BOOK_URL="http://$ADDR" COUPON_BOOK_TOKEN="$KEY" \
      node --test test-build/*.test.js) || status=1
  else
    status=1
  fi
  took "TypeScript client tests" "$start"

  start="$(now)"
  (cd "$PY_DIR" && COUPON_BOOK_URL="http://$ADDR" COUPON_BOOK_TOKEN="$KEY" \
    PYTHONPATH="$PY_DIR" PYTHONDONTWRITEBYTECODE=1 \
    "$PY_TOOLS/bin/python" -m pytest -p no:cacheprovider -q tests) || status=1
  took "Python client tests" "$start"

  if grep -q '"level":"ERROR"' "$WORK/stderr"; then
    echo "the server logged errors during the client tests:" >&2
    grep '"level":"ERROR"' "$WORK/stderr" | head -20 >&2
    status=1
  fi
  return "$status"
}

case "$ACTION" in
  generate | check) generate_or_check ;;
  test) run_tests ;;
esac
