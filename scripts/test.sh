#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite: first the Release build (with
# MPI, so campaigns also run over MPI ranks; warnings are errors), then the same suite built
# with AddressSanitizer and UndefinedBehaviorSanitizer and with MC_ASSERT checked
# (MEMCARLO_DEBUG; without MPI: the single-process paths and refusals).
# Third, the libFuzzer harnesses (fuzz/, clang-14) are built and each run for 20 s from its seed
# corpus (scripts/fuzz.sh; any crash, leak or hang fails the run).
# MEMCARLO_SKIP_SANITIZE=1 skips the second pass and MEMCARLO_SKIP_FUZZ=1 the third (for quick
# local runs; CI runs all three).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build -DMEMCARLO_MPI=ON -DMEMCARLO_WERROR=ON
(cd build && ctest --output-on-failure --timeout 900)
if [[ "${MEMCARLO_SKIP_SANITIZE:-0}" != 1 ]]; then
  bash scripts/build.sh build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEMCARLO_SANITIZE=ON -DMEMCARLO_BENCH=OFF
  (cd build-sanitize && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure --timeout 1800)
fi
if [[ "${MEMCARLO_SKIP_FUZZ:-0}" != 1 ]]; then
  bash scripts/fuzz.sh "${MEMCARLO_FUZZ_SECONDS:-20}"
fi
