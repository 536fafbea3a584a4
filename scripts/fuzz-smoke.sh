#!/usr/bin/env bash
# Short cargo-fuzz run of every target in fuzz/ (`make fuzz`): a smoke test
# that the decoders of untrusted bytes survive a few minutes of mutation, not
# a fuzzing campaign. Not part of `make test` or CI.
#
#   scripts/fuzz-smoke.sh [seconds-per-target]    (default 30)
#
# Needs the nightly toolchain (sanitizers); installs cargo-fuzz if missing.
# Each target starts from fuzz/corpus/<target>/ but writes new inputs to a
# scratch copy, so the committed corpus only changes when someone copies
# inputs into it. Exits non-zero on the first crash, leak, timeout or OOM,
# printing the input's path under fuzz/artifacts/<target>/.
#
# FUZZ_SANITIZER=none runs without AddressSanitizer (faster, catches only
# panics) where the sanitizer build does not work.
set -euo pipefail

seconds=${1:-30}
sanitizer=${FUZZ_SANITIZER:-address}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz-smoke: seconds per target must be a positive integer, got '$seconds'" >&2
  exit 64
fi
if ! command -v rustup >/dev/null || ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz-smoke: cargo-fuzz needs the nightly toolchain; install it with: rustup toolchain install nightly" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz (once per machine)" >&2
  cargo install cargo-fuzz --locked >&2
fi

targets=$(cargo +nightly fuzz list)
echo "fuzz-smoke: building $(echo "$targets" | wc -l) targets (sanitizer: $sanitizer)" >&2
cargo +nightly fuzz build -s "$sanitizer" >&2

scratch=$(mktemp -d "${TMPDIR:-/tmp}/ferrotrace-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

summary=()
for target in $targets; do
  corpus="$scratch/corpus/$target"
  mkdir -p "$corpus"
  if [ -d "fuzz/corpus/$target" ]; then
    cp -R "fuzz/corpus/$target/." "$corpus/"
  fi
  log="$scratch/$target.log"
  echo "fuzz-smoke: $target for ${seconds}s" >&2
  status=0
  # -timeout: an input that takes 10 s is a bug (a hang on one packet).
  cargo +nightly fuzz run -s "$sanitizer" "$target" "$corpus" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=70000 -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    # The panic or sanitizer report and its top frames, then the input.
    first=$(grep -n -m 1 -E 'panicked at|==[0-9]+==ERROR|ERROR: libFuzzer|^SUMMARY' "$log" | cut -d: -f1 || true)
    sed -n "${first:-1},$(( ${first:-1} + 30 ))p" "$log" >&2
    grep -A 4 -E '^Output of `std::fmt::Debug`' "$log" | cut -c 1-300 >&2 || true
    artifact=$(grep -o 'Test unit written to [^ ]*' "$log" | tail -n 1 | sed 's/^Test unit written to //' || true)
    echo "fuzz-smoke: $target FAILED (exit $status)${artifact:+; input: $artifact}" >&2
    if [ -n "$artifact" ]; then
      echo "fuzz-smoke: reproduce with: cargo +nightly fuzz run -s $sanitizer $target $artifact" >&2
    fi
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  rate=$(grep -o 'exec/s: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || echo '?')
  summary+=("$(printf '%-24s %10s runs %8s exec/s %6s edges' "$target" "$runs" "$rate" "$cov")")
done

echo "fuzz-smoke: no crashes (${seconds}s per target)" >&2
printf '  %s\n' "${summary[@]}" >&2
