#!/usr/bin/env bash
# The main job on bundled defaults: install dependencies, build, import the public measured
# data sets, simulate each device model, calibrate models on measured data (and simulate the
# fitted parameters), train LeNet-5 (backprop) and an MLP (DFA, feedback from PCM cells) on MNIST
# and LeNet-5 on simulated memristor arrays, run a campaign over device variation x update
# threshold and analyse it, and print one summary table of the device data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
MEMCARLO_TARGET=memcarlo bash scripts/build.sh build
start=$(date +%s)
memcarlo=build/apps/memcarlo
out=build/main-job
rm -rf "$out" && mkdir -p "$out/measured"
measured_src=${MEMCARLO_MEASURED_SOURCE:-../shared/measured}
if [[ -d "$measured_src" ]]; then
  "$memcarlo" import --from "$measured_src" --out "$out/measured"
else
  echo "main: $measured_src not found; using the committed imports in data/measured"
  cp data/measured/*.h5 "$out/measured/"
fi
"$memcarlo" device simulate pcm-drift --devices 100000 --seed 1 --out "$out/pcm_drift.h5"
"$memcarlo" device simulate pcm-crystallization --devices 10000 --seed 1 --out "$out/pcm_gst.h5"
"$memcarlo" device simulate pcm-crystallization --preset cgst --devices 10000 --seed 1 --out "$out/pcm_cgst.h5"
"$memcarlo" device simulate memristor --devices 10000 --seed 1 --out "$out/memristor.h5"
# Calibrate on measured data and close the loop: fit, simulate with the fitted parameters.
mkdir -p "$out/calibration"
"$memcarlo" calibrate drift --in "$out/measured/stanford_rram_relaxation.h5:techB_relaxation" \
  --out "$out/calibration/techB_drift.toml" --report "$out/calibration/techB_drift"
"$memcarlo" device simulate pcm-drift --config "$out/calibration/techB_drift.toml" --devices 16000 \
  --seed 1 --out "$out/calibration/techB_drift_simulated.h5" --quiet
"$memcarlo" calibrate pulse_train --in "$out/measured/sandia_crosssim_pulse.h5" \
  --out "$out/calibration/sandia_pulse.toml" --report "$out/calibration/sandia_pulse"
# Train on MNIST for one epoch, two replicas each in parallel (datasets fetched by setup.sh):
# LeNet-5 by backprop, and the MLP 784-800-800-10 (tanh) by direct feedback alignment.
mkdir -p "$out/train"
"$memcarlo" train --model lenet5 --dataset mnist --epochs 1 --lr 0.02 --replicas 2 \
  --out "$out/train/lenet5_bp.h5"
# DFA whose feedback matrix is one shared array of simulated C-doped GST cells after identical
# partial-SET pulses (docs/training.md), computed in memory (DAC, 1/f read noise, ADC).
"$memcarlo" train --model mlp --widths 800,800 --dataset mnist --epochs 1 --lr 0.01 --replicas 2 \
  --rule dfa --set feedback=shared --set feedback_source=pcm \
  --set pcm-feedback.periphery=realistic --out "$out/train/mlp_dfa.h5"
# LeNet-5 on simulated bulk-switching memristor arrays by mixed precision (docs/analog.md), then
# programmed onto a PCM inference chip and tested after 1 s, 1 day and 1 year of drift.
"$memcarlo" train --model lenet5 --dataset mnist --epochs 1 --lr 0.02 --set analog.device=memristor \
  --set analog.inference_device=pcm --set analog.inference_times=1,86400,31536000 \
  --out "$out/train/lenet5_memristor_mixed.h5"
# A Monte Carlo campaign (docs/campaigns.md): the MLP on memristor arrays over device-to-device
# variation x update threshold, two seeds each, then its analysis (tables and figures).
mkdir -p "$out/campaign"
"$memcarlo" campaign run configs/campaign/memristor_mnist.toml --out "$out/campaign/campaign.h5"
"$memcarlo" analyze "$out/campaign/campaign.h5" --by analog.epsilon,analog.device_config \
  --out "$out/campaign/analysis"
echo
"$memcarlo" summary "$out"/measured/*.h5 "$out"/*.h5 "$out"/calibration/*.h5
echo
echo "main: pipeline took $(( $(date +%s) - start )) s; outputs in $out/ (open them with h5py or HDFView; format in docs/hdf5-schema.md)"
