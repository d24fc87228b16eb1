#!/usr/bin/env bash
# Runs every test of the project, installing what the tests need first.
# This is the command the README names and .ci/run calls.
#   tests/run.sh            everything (host tests, then cross builds under QEMU)
#   tests/run.sh --host     host tests only (format, lints, unit and black-box tests)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages the black-box tests use as real peers and tools.
missing=()
for tool in curl:curl chromium:chromium htpasswd:apache2-utils openssl:openssl goaccess:goaccess php-cgi:php-cgi git:git python3:python3; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== feature matrix: the bare engine, each plugin alone (each tested), everything"
matrix="$PWD/target/matrix"
CARGO_TARGET_DIR="$matrix" cargo build -q -p firmware-server --no-default-features
FWS_BIN="$matrix/debug/firmware-server" cargo test -q -p blackbox \
  --test cli --test http --test errors --test static_files --test traversal \
  --test conditional --test range --test config_features --test lifecycle --test curl
for plugin in access auth dirlisting logger ctl tls; do
  CARGO_TARGET_DIR="$matrix" cargo build -q -p firmware-server --no-default-features --features "$plugin"
  FWS_BIN="$matrix/debug/firmware-server" cargo test -q -p blackbox --test "plugin_$plugin"
done
# CGI alone, plus auth (its git test guards pushes with it).
CARGO_TARGET_DIR="$matrix" cargo build -q -p firmware-server --no-default-features --features cgi,auth
FWS_BIN="$matrix/debug/firmware-server" cargo test -q -p blackbox --test plugin_cgi
# FastCGI alone (php-fpm from Debian; Debian names its binary php-fpmX.Y).
ls /usr/sbin/php-fpm* >/dev/null 2>&1 || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq php-fpm >/dev/null
CARGO_TARGET_DIR="$matrix" cargo build -q -p firmware-server --no-default-features --features fastcgi
FWS_BIN="$matrix/debug/firmware-server" cargo test -q -p blackbox --test plugin_fastcgi
cargo build -q -p firmware-server --all-features

echo "== unit and black-box tests (host)"
cargo build -p firmware-server
FWS_BIN="$PWD/target/debug/firmware-server" cargo test --workspace
echo "== plugin API shapes (test-only testkit plugin)"
cargo test -p firmware-server --features testkit --test plugin_shapes

echo "== hardening: every fuzz target for 10 s, a one-minute soak (tests/hardening)"
tests/hardening/fuzz.sh 10
python3 tests/hardening/soak.py --minutes 1 --bin "$PWD/target/debug/firmware-server"

if [ "$mode" = "--host" ]; then exit 0; fi

echo "== cross toolchain (Debian rustc + std source, Zig, qemu-user)"
as_root board-configs/install-cross-toolchain.sh

# The same black-box suite against cross-built binaries under QEMU user
# emulation: little-endian ARM and big-endian MIPS (where byte-order bugs
# show). Plain target builds: the suite asserts the built-in defaults.
for pair in armv7-unknown-linux-musleabihf:qemu-arm-static mips-unknown-linux-musl:qemu-mips-static; do
  triple=${pair%%:*}
  runner=${pair#*:}
  echo "== $triple: build, black-box suite under $runner, TLS self-test"
  cargo board --target "$triple"
  FWS_BIN="$PWD/target/cross/$triple/$triple/release/firmware-server" FWS_RUNNER="$runner" \
    cargo test -p blackbox
  cargo board --target "$triple" --test -p fws-tls-selftest
done

echo "== the boards CI covers build (mt7621-generic and cortex-a53-generic: cargo board --board NAME)"
for board in ath79-generic cortex-a7-generic; do
  cargo board --board "$board"
done

# Full-system boot (board-configs/qemu-system/boot.sh): the cortex-a7-generic
# build just made, under qemu-system-arm with Debian's armmp kernel; a page,
# a 404, a range, RSS idle and with 200 keep-alive connections. About a
# minute with downloads; aarch64 and mipsel: `boot.sh all` (README).
echo "== full-system boot: armv7 (ARM virt) under qemu-system"
board-configs/qemu-system/boot.sh armv7
