#!/usr/bin/env bash
# Fuzzes coupon-book's input parsers: the code-pattern parser, the upload line reader
# with code intake, and every JSON request body.
#
#   scripts/fuzz.sh [seconds per target] [target ...]
#
# With a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`), each target
# runs under libFuzzer with AddressSanitizer for the given time (default 60 s), at
# the lowest CPU priority; findings land in fuzz/artifacts/<target>/. Without
# nightly, the same checks (fuzz/src/lib.rs) run on stable as a time-bounded random
# and mutation-based search (tests/it/fuzz_smoke.rs), which finds less but needs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-60}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(code_pattern upload_lines json_bodies)
fi

have_nightly() {
  rustup toolchain list 2>/dev/null | grep -q '^nightly' && command -v cargo-fuzz >/dev/null
}

if have_nightly; then
  cd fuzz
  CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" nice -n 19 cargo +nightly fuzz build
  status=0
  for target in "${TARGETS[@]}"; do
    mkdir -p "corpus/$target"
    # Seed inputs: a few valid examples so the search starts from real shapes.
    if [ -d "seeds/$target" ]; then
      cp -n "seeds/$target"/* "corpus/$target/" 2>/dev/null || true
    fi
    echo "== $target: ${SECONDS_PER_TARGET}s under libFuzzer" >&2
    log="$(mktemp -t "fuzz-$target.XXXXXX.log")"
    if ! nice -n 19 cargo +nightly fuzz run "$target" "corpus/$target" -- \
      -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -rss_limit_mb=2048 \
      -print_final_stats=1 >"$log" 2>&1; then
      status=1
      echo "!! $target found a failure; see fuzz/artifacts/$target/" >&2
    fi
    # The closing statistics: runs, executions per second, coverage.
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|Done [0-9]+ runs)' "$log" >&2 || tail -5 "$log" >&2
    grep -E 'ERROR|panicked|SUMMARY' "$log" | head -20 >&2 || true
    rm -f "$log"
  done
  exit "$status"
fi

echo "no nightly toolchain with cargo-fuzz here: running the stable fallback" >&2
echo "(tests/it/fuzz_smoke.rs: random and mutated inputs through the same checks)" >&2
COUPON_BOOK_FUZZ_SECONDS="$SECONDS_PER_TARGET" \
COUPON_BOOK_FUZZ_TARGETS="${TARGETS[*]}" \
  nice -n 19 cargo test --release --test it fuzz_smoke:: -- --nocapture
