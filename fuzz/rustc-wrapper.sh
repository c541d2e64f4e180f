#!/usr/bin/env bash
# RUSTC_WRAPPER used by scripts/fuzz.sh: adds the coverage instrumentation
# ($FUZZ_INSTRUMENT_FLAGS) only to the crates named in $FUZZ_INSTRUMENT_CRATES, and only when
# they are compiled for the target (cargo passes --target then; build scripts and proc macros
# are host code and must stay uninstrumented). The large server/HTTP/SQL tree the fuzz
# targets link but never run is compiled plainly, which keeps a cold build within CI's budget.
set -euo pipefail
rustc=$1
shift
crate=""
for_target=0
previous=""
for arg in "$@"; do
  case $previous in
    --crate-name) crate=$arg ;;
    --target) for_target=1 ;;
  esac
  previous=$arg
done
crates=" ${FUZZ_INSTRUMENT_CRATES:-} "
if [[ $for_target == 1 && ${crates//[[:space:]]/ } == *" $crate "* ]]; then
  # shellcheck disable=SC2086 # the flags are a space-separated list
  exec "$rustc" "$@" ${FUZZ_INSTRUMENT_FLAGS:-}
fi
exec "$rustc" "$@"
