#!/usr/bin/env bash
# geodyn against PyTorch + torchdiffeq (the DiMS paper's stack) on identical inputs, as
# benches/jax/side_by_side.sh does for JAX + diffrax. Reuses OUT/map.npy and
# OUT/velocities.npy when they are there (by default the inputs of the JAX table,
# target/side-by-side-dims); otherwise geodyn trains the MAP on the real Snelson data (gap
# held out), draws S initial velocities and runs S samples on one thread first. Then
# benches/torch/dims_torchdiffeq.py integrates the same (θ*, v_i) with torchdiffeq's dopri5
# at the same tolerances on one thread, after a bare-RHS timing of each.
# Prints one JSON line per timing and per sample.
#
#   bash benches/torch/side_by_side.sh [dims|rla] [S] [OUT]
#
# Needs: python3 with `pip install torch torchdiffeq numpy`, ../shared/data/snelson_train.csv,
# and (only when OUT has no inputs yet) a release build of geodyn.
set -euo pipefail
sampler=${1:-dims}
count=${2:-3}
out=${3:-target/side-by-side-dims}
data=../shared/data/snelson_train.csv
sigma=0.285
lambda=0.209
if [[ ! -f "$out/map.npy" || ! -f "$out/velocities.npy" ]]; then
    ./target/release/geodyn sample "$sampler" --data "$data" --holdout in_gap_1p5_3 --arch 1-16-16-1:gelu \
        --noise-std $sigma --prior-precision $lambda --samples "$count" --threads 1 --no-progress --out "$out"
fi
python3 -c "import torch, torchdiffeq; print('torch', torch.__version__, 'torchdiffeq', torchdiffeq.__version__)"
uptime
for ((i = 0; i < count; i++)); do
    args=(--map "$out/map.npy" --velocities "$out/velocities.npy" --data "$data" --arch 1-16-16-1
          --noise-std $sigma --prior-precision $lambda --sampler "$sampler" --index "$i" --threads 1)
    python3 benches/torch/dims_torchdiffeq.py "${args[@]}" --bare 2000
    python3 benches/torch/dims_torchdiffeq.py "${args[@]}"
    uptime
done
