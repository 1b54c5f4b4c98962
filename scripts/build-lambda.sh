#!/usr/bin/env bash
# Builds coupon-book for AWS Lambda (custom runtime provided.al2023, x86_64) and puts
# it where infra/template.yaml expects it: target/lambda/coupon-book/bootstrap.
#
#   scripts/build-lambda.sh
#
# provided.al2023 has glibc 2.34. A binary linked on a newer system (Debian 12 has
# 2.36) can ask for newer symbol versions and then fails to start there, so the build
# goes through cargo-zigbuild, which links against glibc 2.34 whatever this machine
# has. zig comes from the `ziglang` Python package; both tools are installed once
# under target/. Set CARGO_TARGET_DIR to build elsewhere; the binary is copied anyway.
set -euo pipefail
cd "$(dirname "$0")/.."

ZIG_VERSION=0.15.2
ZIGBUILD_VERSION=0.24.1
GLIBC=2.34
TARGET=x86_64-unknown-linux-gnu
ZIG_VENV="$PWD/target/zig-venv"
ZIGBUILD_ROOT="$PWD/target/tools/cargo-zigbuild-$ZIGBUILD_VERSION"
OUT="$PWD/target/lambda/coupon-book"

if ! "$ZIG_VENV/bin/python3" -m ziglang version 2>/dev/null | grep -qx "$ZIG_VERSION"; then
  echo "installing zig $ZIG_VERSION (once) into $ZIG_VENV" >&2
  python3 -m venv "$ZIG_VENV"
  "$ZIG_VENV/bin/pip" install --quiet "ziglang==$ZIG_VERSION"
fi
if [ ! -x "$ZIGBUILD_ROOT/bin/cargo-zigbuild" ]; then
  echo "installing cargo-zigbuild $ZIGBUILD_VERSION (once) into $ZIGBUILD_ROOT" >&2
  cargo install "cargo-zigbuild@$ZIGBUILD_VERSION" --locked --root "$ZIGBUILD_ROOT"
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  echo "the Rust target $TARGET is needed: rustup target add $TARGET" >&2
  exit 1
fi

# cargo-zigbuild runs `python3 -m ziglang` when no `zig` is on PATH.
export PATH="$ZIGBUILD_ROOT/bin:$ZIG_VENV/bin:$PATH"
# Symbols stripped: a smaller package loads faster on a cold start.
CARGO_PROFILE_RELEASE_STRIP="${CARGO_PROFILE_RELEASE_STRIP:-symbols}" \
  cargo zigbuild --release --target "$TARGET.$GLIBC" --bin coupon-book

BUILT="${CARGO_TARGET_DIR:-$PWD/target}/$TARGET/release/coupon-book"
mkdir -p "$OUT"
cp "$BUILT" "$OUT/bootstrap"
if command -v objdump >/dev/null; then
  needed="$(objdump -T "$OUT/bootstrap" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"
  echo "newest glibc symbol version needed: $needed (provided.al2023 has GLIBC_$GLIBC)" >&2
  if [ "$(printf '%s\n' "$needed" "GLIBC_$GLIBC" | sort -V | tail -1)" != "GLIBC_$GLIBC" ]; then
    echo "the binary needs a newer glibc than provided.al2023 has" >&2
    exit 1
  fi
fi
echo "$OUT/bootstrap ($(du -h "$OUT/bootstrap" | cut -f1)): ready for sam deploy" >&2
