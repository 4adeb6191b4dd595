#!/usr/bin/env bash
# Configures and builds memcarlo. Usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
# BUILD_DIR defaults to build/ (Release). Reuses an existing configuration, so reruns are cheap.
# MEMCARLO_TARGET=name builds one target only (the main job builds just the executable).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
shift || true
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
elif (($#)); then
  cmake -S . -B "$build_dir" "$@"
fi
target=()
[[ -n "${MEMCARLO_TARGET:-}" ]] && target=(--target "$MEMCARLO_TARGET")
cmake --build "$build_dir" --parallel "$(nproc)" "${target[@]}"
