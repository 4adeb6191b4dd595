#!/usr/bin/env bash
# The recorded runs of training on simulated device arrays (docs/results.md, "Training on
# simulated devices"): LeNet-5 on MNIST by mixed precision on the memristor calibrated on the
# Gong et al. HfO2 data, the threshold sweep, in-memory SGD, PCM and lut devices, and inference
# after training on a drifting PCM chip for tile-trained and digitally trained networks.
# Each run is one `memcarlo train` command, printed before it runs; results go to OUT_DIR
# (default build/analog-results), one .h5 per run, and a summary table is printed at the end.
# Too long for CI (about 45 minutes on one core); VGG-16 is separate (see docs/results.md).
# Usage: bash scripts/analog_results.sh [OUT_DIR] [--only NAME...]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/analog-results}
shift || true
only=("$@")
memcarlo=${MEMCARLO:-build/apps/memcarlo}
mkdir -p "$out"
gong=docs/calibration/gong_hfo2/params.toml
lenet=(--model lenet5 --dataset mnist --epochs 3 --lr 0.02 --set schedule=cosine --threads 1 --quiet)
pcm_inference=(--set analog.inference_device=pcm)

run() {
  local name=$1
  shift
  if ((${#only[@]})) && [[ " ${only[*]} " != *" $name "* ]]; then return; fi
  echo "+ memcarlo train $* --out $out/$name.h5"
  "$memcarlo" train "$@" --out "$out/$name.h5"
}

# Mixed precision on the calibrated memristor, two replicas (seeds), then tested on PCM.
run lenet5_gong_mixed "${lenet[@]}" --replicas 2 --set analog.device=memristor \
  --set analog.device_config=$gong "${pcm_inference[@]}"
# The same network trained digitally, on the same PCM inference chip.
run lenet5_digital "${lenet[@]}" --replicas 2 "${pcm_inference[@]}"
# Accuracy and device wear against the threshold epsilon (mean device steps).
for eps in 0.1 0.3 3 10; do
  run lenet5_gong_mixed_eps$eps "${lenet[@]}" --set analog.device=memristor \
    --set analog.device_config=$gong --set analog.epsilon=$eps
done
# In-memory SGD on the same device.
run lenet5_gong_sgd "${lenet[@]}" --set analog.device=memristor --set analog.device_config=$gong \
  --set analog.update=sgd
# Mixed precision on the same device on potentiation-only pairs with refresh (the scheme VGG-16
# needs: docs/analog.md), at the default w_max and at the VGG-16 run's w_max_factor 5.
run lenet5_gong_mixed_pot "${lenet[@]}" --set analog.device=memristor --set analog.device_config=$gong \
  --set analog.pair_update=potentiation
run lenet5_gong_mixed_pot_f5 "${lenet[@]}" --set analog.device=memristor --set analog.device_config=$gong \
  --set analog.pair_update=potentiation --set analog.w_max_factor=5
# Control: the alternating pairs at that w_max (is it the scheme or the range?).
run lenet5_gong_mixed_f5 "${lenet[@]}" --set analog.device=memristor --set analog.device_config=$gong \
  --set analog.w_max_factor=5
# Mixed precision on PCM (partial-SET table from the crystallization model, refresh) and on the
# measured Sandia ENODe and TaOx (device 3) lookup tables.
run lenet5_pcm_mixed "${lenet[@]}" --set analog.device=pcm "${pcm_inference[@]}"
run lenet5_enode_mixed "${lenet[@]}" --set analog.device=lut --set analog.device_config=configs/lut_enode.toml
run lenet5_taox3_mixed "${lenet[@]}" --set analog.device=lut \
  --set analog.device_config=configs/lut_taox_device3.toml

/usr/bin/python3 - "$out" <<'PY'
import glob, os, sys
import h5py
rows = []
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.h5"))):
    with h5py.File(path) as f:
        acc = f["summary/final_test_accuracy"][()]
        for r in sorted(f["replicas"]):
            g = f["replicas"][r]
            pulses = g["analog"].attrs["pulses"] if "analog" in g else 0
            devices = sum(t.attrs["devices"] for t in g["analog"].values()) if "analog" in g else 1
            inf = ""
            if "inference" in g:
                t = g["inference/time_s"][()]
                a, c = g["inference/test_accuracy"][()], g["inference/test_accuracy_compensated"][()]
                inf = " ".join(f"{ti:g}s:{ai:.4f}/{ci:.4f}" for ti, ai, ci in zip(t, a, c))
            print(f"{os.path.basename(path):<34} replica {r} acc {g.attrs['final_test_accuracy']:.4f} "
                  f"pulses {pulses} ({pulses / devices:.1f}/device) {inf}")
PY
