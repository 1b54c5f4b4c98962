# Sourced by the test scripts that need a live coupon-book server.
#
#   start_server BIN WORK NAME [VAR=value ...]
#
# Starts `BIN serve` on a free loopback port, on the embedded store
# sqlite:WORK/NAME.db, with RUST_LOG=warn and the given environment; its output goes to
# WORK/stdout and WORK/stderr. Sets SERVER_PID and ADDR (host:port), or says why it
# could not and returns 1. stop_server ends it (call it from the script's EXIT trap).

SERVER_PID=""
ADDR=""

stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}

start_server() {
  local bin="$1" work="$2" name="$3"
  shift 3
  : >"$work/stdout"
  : >"$work/stderr"
  env RUST_LOG=warn "$@" "$bin" serve --listen 127.0.0.1:0 --store "sqlite:$work/$name.db" \
    >"$work/stdout" 2>"$work/stderr" &
  SERVER_PID=$!
  ADDR=""
  for _ in $(seq 1 200); do
    ADDR="$(sed -n 's/^listening on //p' "$work/stdout" | head -1 || true)"
    [ -n "$ADDR" ] && return 0
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "the server did not start:" >&2
      cat "$work/stderr" >&2
      SERVER_PID=""
      return 1
    fi
    sleep 0.05
  done
  echo "the server did not report its address" >&2
  return 1
}

# absolute_server_binary BIN: prints BIN as an absolute path, or says how to build it
# and returns 1.
absolute_server_binary() {
  local dir
  if ! dir="$(cd "$(dirname "$1")" 2>/dev/null && pwd)" || [ ! -f "$dir/$(basename "$1")" ] ||
    [ ! -x "$dir/$(basename "$1")" ]; then
    echo "no server binary at $1: run cargo build --bins first" >&2
    return 1
  fi
  echo "$dir/$(basename "$1")"
}

# require_tools TOOL...: returns 1, saying which, unless every tool is on the PATH.
require_tools() {
  local tool
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null; then
      echo "$tool is needed: install it from your package manager" >&2
      return 1
    fi
  done
}
