#!/usr/bin/env bash
# Stripped release size of firmware-server for any feature lists, natively or
# per cross target, as a markdown table.
#
#   tests/bench/sizes.sh                       # host: bare, each plugin alone, all plugins
#   tests/bench/sizes.sh --target all bare all # the five firmware targets: bare engine, all plugins
#   tests/bench/sizes.sh --target mips-unknown-linux-musl bare access,auth,logger tls
#
# A BUILD is `bare` (no plugin), `all` (every plugin feature of
# firmware-server/Cargo.toml except the test-only testkit), `default` (the
# crate's default features) or a comma-separated feature list (always built
# with --no-default-features). "over bare" is the difference to the first
# build of the same target. Without --target: native release builds (target
# dir target/sizes). With --target TRIPLE (repeatable; `all` = the five
# targets): `cargo board --target TRIPLE --no-default-features --features
# LIST`, which caches per target under target/cross/TRIPLE; each artifact is
# copied to target/sizes/TRIPLE/BUILD. Cross builds need
# board-configs/install-cross-toolchain.sh first; each takes minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

all_targets="x86_64-unknown-linux-musl armv7-unknown-linux-musleabihf aarch64-unknown-linux-musl mips-unknown-linux-musl mipsel-unknown-linux-musl"
targets=()
builds=()
while [ $# -gt 0 ]; do
  case $1 in
    --target) [ $# -ge 2 ] || { echo "sizes.sh: --target needs a value" >&2; exit 2; }
              if [ "$2" = all ]; then read -ra t <<<"$all_targets"; targets+=("${t[@]}"); else targets+=("$2"); fi
              shift 2 ;;
    --target=*) v=${1#--target=}
              if [ "$v" = all ]; then read -ra t <<<"$all_targets"; targets+=("${t[@]}"); else targets+=("$v"); fi
              shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    -*) echo "sizes.sh: unknown option $1" >&2; exit 2 ;;
    *) builds+=("$1"); shift ;;
  esac
done

# The plugin features: the [features] table of the engine's manifest, minus
# `default` and the test-only `testkit`.
plugins=$(awk '/^\[features\]/{f=1;next} /^\[/{f=0} f && /^[a-z0-9_-]+ *=/{print $1}' \
  firmware-server/Cargo.toml | grep -vx -e default -e testkit | paste -sd, -)
[ -n "$plugins" ] || { echo "sizes.sh: no plugin features found in firmware-server/Cargo.toml" >&2; exit 1; }

if [ ${#builds[@]} -eq 0 ]; then
  builds=(bare)
  IFS=, read -ra each <<<"$plugins"
  builds+=("${each[@]}" all)
fi

for b in "${builds[@]}"; do
  [[ $b =~ ^[a-z0-9_-]+(,[a-z0-9_-]+)*$ ]] || { echo "sizes.sh: bad build '$b' (bare, all, default or FEATURE,FEATURE...)" >&2; exit 2; }
done

# The cargo feature arguments of a BUILD.
feature_args() {
  case $1 in
    bare) echo "--no-default-features" ;;
    all) echo "--no-default-features --features $plugins" ;;
    default) echo "" ;;
    *) echo "--no-default-features --features $1" ;;
  esac
}
label() {
  case $1 in
    all) echo "all ($plugins)" ;;
    *) echo "$1" ;;
  esac
}

if [ ${#targets[@]} -eq 0 ]; then
  dir=target/sizes/host
  echo "| build | bytes (stripped, $(uname -m)) | over bare |"
  echo "| --- | --- | --- |"
  base=
  for b in "${builds[@]}"; do
    # shellcheck disable=SC2046
    nice cargo build -q --release --target-dir target/sizes -p firmware-server --bin firmware-server $(feature_args "$b")
    mkdir -p "$dir"; cp target/sizes/release/firmware-server "$dir/$b"
    n=$(stat -c %s "$dir/$b")
    printf '| %s | %s | %s |\n' "$(label "$b")" "$n" "$(( n - ${base:-$n} ))"
    [ -n "$base" ] || base=$n
  done
  exit 0
fi

echo "| target | build | bytes (stripped, static) | over first build |"
echo "| --- | --- | --- | --- |"
for t in "${targets[@]}"; do
  base=
  for b in "${builds[@]}"; do
    # shellcheck disable=SC2046
    out=$(nice cargo board --target "$t" $(feature_args "$b")) || { echo "sizes.sh: build $b for $t failed" >&2; exit 1; }
    art=$(sed -n 's/^artifact: //p' <<<"$out")
    mkdir -p "target/sizes/$t"; cp "$art" "target/sizes/$t/$b"
    n=$(stat -c %s "target/sizes/$t/$b")
    printf '| %s | %s | %s | %s |\n' "$t" "$(label "$b")" "$n" "$(( n - ${base:-$n} ))"
    [ -n "$base" ] || base=$n
  done
done
