#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ (clang-14, ASan+UBSan, -DMEMCARLO_FUZZ=ON) in
# build-fuzz/ and runs each for SECONDS (default 20) from its corpus in build-fuzz/corpus/,
# seeded by fuzz/make_seeds.py (which runs build/apps/memcarlo and reads the MNIST cache).
# Prints per harness: seconds, executions, and findings (crash, leak, timeout, oom files,
# saved under build-fuzz/findings/HARNESS/); exits 1 if any harness found something.
# Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
harnesses=("$@")
((${#harnesses[@]})) || harnesses=(fuzz_measurements fuzz_dataset_cache fuzz_results fuzz_raw_data fuzz_toml)
[[ -x build/apps/memcarlo ]] || bash scripts/build.sh build
CC=clang-14 CXX=clang++-14 bash scripts/build.sh build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMEMCARLO_FUZZ=ON -DMEMCARLO_TESTS=OFF -DMEMCARLO_BENCH=OFF -DMEMCARLO_GEMM=eigen
[[ -d build-fuzz/corpus ]] || /usr/bin/python3 fuzz/make_seeds.py build/apps/memcarlo build-fuzz/corpus
export LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS=print_stacktrace=1
failed=0
printf '%-20s %8s %12s %9s\n' harness seconds executions findings
for h in "${harnesses[@]}"; do
  findings="build-fuzz/findings/$h"
  mkdir -p "$findings" "build-fuzz/corpus/$h"
  log="build-fuzz/findings/$h.log"
  # -timeout: one input may take a few seconds (a damaged HDF5 file is read in a child with a
  # 10 s limit); -max_len: TOML and raw files stay small, HDF5 seeds set their own.
  "build-fuzz/fuzz/$h" "build-fuzz/corpus/$h" -max_total_time="$seconds" -timeout=30 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$findings/" >"$log" 2>&1 || true
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  found=$(find "$findings" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  printf '%-20s %8s %12s %9s\n' "$h" "$seconds" "${runs:-0}" "$found"
  if ((found)); then
    failed=1
    echo "  findings in $findings (log: $log):"
    grep -E 'ERROR|SUMMARY' "$log" | head -5 | sed 's/^/    /'
  fi
done
exit "$failed"
