#!/usr/bin/env bash
# geodyn against JAX + diffrax on identical inputs (issue 4): geodyn trains the MAP on the
# real Snelson data (gap held out), draws S initial velocities and runs S samples on one
# thread; the JAX script then integrates the same (θ*, v_i) with Dormand–Prince at the same
# tolerances. Prints geodyn's per-sample records and one JSON line per JAX sample.
#
#   bash benches/jax/side_by_side.sh [dims|rla] [S] [OUT]
#
# Needs: a release build of geodyn (cargo build --release -p geodyn-cli), python3 with
# `pip install jax diffrax numpy`, and ../shared/data/snelson_train.csv.
set -euo pipefail
sampler=${1:-dims}
count=${2:-4}
out=${3:-target/side-by-side-$sampler}
data=../shared/data/snelson_train.csv
sigma=0.285
lambda=0.209
./target/release/geodyn sample "$sampler" --data "$data" --holdout in_gap_1p5_3 --arch 1-16-16-1:gelu \
    --noise-std $sigma --prior-precision $lambda --samples "$count" --threads 1 --no-progress --out "$out"
python3 - "$out/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for r in s["per_sample"]:
    print(json.dumps({"geodyn": s["sampler"], "index": r["index"], "wall_s": round(r["wall_time_s"], 3),
                      "steps": r["accepted_steps"] + r["rejected_steps"], "rejected": r["rejected_steps"],
                      "rhs_evaluations": r["rhs_evaluations"],
                      "us_per_rhs": round(r["wall_time_s"] / r["rhs_evaluations"] * 1e6, 1),
                      "final_loss": r["final_loss"], "final_kinetic": r["final_kinetic"]}))
PY
for ((i = 0; i < count; i++)); do
    python3 benches/jax/dims_diffrax.py --map "$out/map.npy" --velocities "$out/velocities.npy" --data "$data" \
        --arch 1-16-16-1 --noise-std $sigma --prior-precision $lambda --sampler "$sampler" --index "$i"
done
