#!/usr/bin/env bash
# Runs every fuzz target of tests/fuzz (cargo-fuzz: libFuzzer + ASan).
#   tests/hardening/fuzz.sh                 short run: 10 s per target (CI)
#   tests/hardening/fuzz.sh 1800            30 minutes per target (the long run)
#   tests/hardening/fuzz.sh 1800 path range only the named targets
# New inputs go to target/fuzz-corpus/TARGET (not checked in); the seeds in
# tests/fuzz/corpus/TARGET are read, never written. A crash leaves its input
# in tests/fuzz/artifacts/TARGET and fails the run; turn it into a unit test
# in the crate concerned, fix it, and add the input to the seeds.
# A target for a new parser: add fuzz_targets/NAME.rs, a [[bin]] in
# tests/fuzz/Cargo.toml and seeds in tests/fuzz/corpus/NAME; this script
# picks up every [[bin]].
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
shift || true
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list --fuzz-dir tests/fuzz)
fi
cargo fuzz build --fuzz-dir tests/fuzz
summary=()
failed=0
for t in "${targets[@]}"; do
  work="target/fuzz-corpus/$t"
  mkdir -p "$work"
  log="target/fuzz-corpus/$t.log"
  echo "== fuzz $t (${seconds}s)"
  if cargo fuzz run --fuzz-dir tests/fuzz "$t" "$work" "tests/fuzz/corpus/$t" -- \
      -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    result="0 crashes"
  else
    tail -40 "$log"
    echo "fuzz target $t failed: see $log and tests/fuzz/artifacts/$t" >&2
    result="CRASH (see $log)"
    failed=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  summary+=("$t: $runs executions, $result")
done
printf '%s\n' "${summary[@]}"
exit $failed
