#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted input (docs/testing.md#fuzzing): builds the libFuzzer
# targets of fuzz/ with the instrumentation cargo-fuzz uses, on the stable toolchain
# (RUSTC_BOOTSTRAP=1 unlocks the -Z flags; no cargo-fuzz install needed), then runs each one
# for SECONDS_PER_TARGET seconds on its seed corpus (fuzz/seeds/<target>, committed) plus the
# working corpus (fuzz/corpus/<target>, git-ignored, grows between runs).
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 20 seconds, all)
# Env:   FUZZ_ASAN=1 adds AddressSanitizer (a much slower build; the targets are safe Rust).
#
# Exits non-zero when any target crashes, panics, leaks, times out or runs out of memory; the
# input is kept as fuzz/artifacts/<target>/crash-* (or timeout-*, oom-*, leak-*) and the
# command to reproduce it is printed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-20}
shift || true
if [[ $# -gt 0 ]]; then targets=("$@"); else targets=(webhook_payload comment_commands jules_models); fi

triple=$(rustc -vV | sed -n 's/^host: //p')
# cargo-fuzz's coverage flags (cargo-fuzz 0.12/0.13, src/project.rs), minus -Clink-dead-code
# (slower links, nothing gained) and -Ccodegen-units=1 (slower builds). cargo-fuzz puts them
# in RUSTFLAGS, i.e. on every crate; here fuzz/rustc-wrapper.sh adds them only to the crates
# the targets exercise, not to the big server/HTTP/SQL tree they link but never run: that
# halves the cold build. The optimisation levels per crate are in fuzz/Cargo.toml.
export FUZZ_INSTRUMENT_FLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth
  -Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cdebug-assertions --cfg fuzzing"
export FUZZ_INSTRUMENT_CRATES="${targets[*]} jules_bridge serde_json serde_path_to_error
  pulldown_cmark unicase chrono hex"
# AddressSanitizer must cover every crate (global RUSTFLAGS). It is opt-in: the fuzzed code is
# safe Rust, and ASan triples the cold build and halves the executions per second.
rustflags=${RUSTFLAGS:-}
if [[ ${FUZZ_ASAN:-0} != 0 ]]; then
  rustflags+=" -Zsanitizer=address"
  export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0
fi

# --target keeps RUSTFLAGS away from build scripts and proc macros (as cargo-fuzz does), and
# puts the binaries where `cargo fuzz` puts them.
echo "building fuzz targets (${triple}) ..."
build_start=$SECONDS
RUSTC_BOOTSTRAP=1 RUSTFLAGS="$rustflags" RUSTC_WRAPPER="$PWD/rustc-wrapper.sh" \
  cargo build --release --target "$triple" --target-dir target \
  $(printf -- '--bin %s ' "${targets[@]}")
echo "built in $((SECONDS - build_start)) s"

# The targets run side by side (one libFuzzer process each), so the run takes SECONDS, not
# SECONDS times the number of targets.
run_start=$SECONDS
pids=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  "target/$triple/release/$target" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="artifacts/$target/" \
    "corpus/$target" "seeds/$target" >"artifacts/$target/last-run.log" 2>&1 &
  pids+=($!)
done

failed=()
summary=()
for index in "${!targets[@]}"; do
  target=${targets[$index]}
  log="artifacts/$target/last-run.log"
  status=0
  wait "${pids[$index]}" || status=$?
  # The last progress line ("#N DONE cov: ... corp: ... exec/s: ...") and the totals.
  final=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  corpus=$(find "corpus/$target" -type f | wc -l)
  echo "=== $target: ${final:-(no final stats line)}"
  summary+=("$(printf '%-18s execs=%-10s exec/s=%-7s corpus=%-6s exit=%s' \
    "$target" "${execs:-?}" "${rate:-?}" "$corpus" "$status")")
  if [[ $status -ne 0 ]]; then
    failed+=("$target")
    grep -E -A30 'panicked at|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|ALARM|out-of-memory' \
      "$log" | head -n 60 || true
    for artifact in $(grep -oE 'artifacts/[^ ]+/(crash|timeout|oom|leak|slow-unit)-[0-9a-f]+' "$log" | sort -u); do
      echo "reproduce: (cd fuzz && target/$triple/release/$target $artifact)"
    done
    echo "full log: fuzz/$log"
  fi
done
echo "fuzzed in $((SECONDS - run_start)) s"

echo "=== summary (${seconds} s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
