#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for FUZZ_SECONDS (default 30) each, with the kept
# corpus, and keeps what the run adds to the corpus. A crash fails the run; its input is
# in fuzz/artifacts/<target>/: fix it, then add it to fuzz/regressions/<target>/.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}
# `address` (cargo-fuzz's default) or `none`: much faster to build and run; the code here
# forbids unsafe, so panics and overflows (debug assertions are on) are what it finds.
sanitizer=${FUZZ_SANITIZER:-address}
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "SKIP: fuzzing: no nightly toolchain (rustup toolchain install nightly)"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "SKIP: fuzzing: cargo-fuzz is not installed (cargo install cargo-fuzz)"
  exit 0
fi
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^agora-fuzz$')
for t in $targets; do
  echo "fuzz: $t for ${seconds}s"
  log=$(mktemp)
  rc=0
  cargo +nightly fuzz run --sanitizer "$sanitizer" "$t" "fuzz/corpus/$t" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  grep -E "^(stat::number_of_executed_units|stat::new_units_added|==.*ERROR|SUMMARY|thread .* panicked)" "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -30 "$log"
    echo "fuzz: $t failed; the input is in fuzz/artifacts/$t/"
    exit 1
  fi
  rm -f "$log"
done
