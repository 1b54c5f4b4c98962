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

# The HTTP tests start the real binary; build it once up front.
cargo build --bins
cargo test --all-targets "$@"
