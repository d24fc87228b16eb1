#!/usr/bin/env bash
# Stripped release size of the bare engine, each plugin alone, and all
# plugins, as a markdown table. Usage: tests/bench/sizes.sh [TARGET_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-target/sizes}
row() {
  local name=$1; shift
  CARGO_TARGET_DIR="$dir/$name" cargo build -q --release -p firmware-server "$@"
  local n; n=$(stat -c %s "$dir/$name/release/firmware-server")
  printf '| %s | %s | %s |\n' "$name" "$n" "$(( n - ${base:-$n} ))"
  [ -n "${base:-}" ] || base=$n
}
echo "| build | bytes (stripped, $(uname -m)) | over bare |"
echo "| --- | --- | --- |"
row bare --no-default-features
for p in access auth dirlisting logger ctl tls; do
  row "$p" --no-default-features --features "$p"
done
row "default (all five)"
