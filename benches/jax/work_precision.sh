#!/usr/bin/env bash
# Work against precision (issue 4): DiMS sample 0 of the Snelson workload integrated to
# t = 2 and t = 10 at rtol 1e-7 … 1e-10 (atol = 10·rtol) by geodyn's GraphRattle (the
# default, to 1e-9) and two projected Runge–Kutta methods and by JAX + diffrax's Dopri5 on
# the same (θ*, v0), plus geodyn's reference (projected Tsit5) at 1e-12.
# Prints one JSON line per run (code, method, t, rtol, RHS, wall seconds, final loss);
# compare each loss with the reference of the same code (JAX's tightest is 1e-10).
#
#   bash benches/jax/work_precision.sh [OUT]
#
# Needs: a release build of geodyn (cargo build --release -p geodyn-cli), python3 with
# `pip install jax diffrax numpy`, and ../shared/data/snelson_train.csv. Run it on an idle
# machine: it compares wall times.
set -euo pipefail
out=${1:-target/work-precision}
data=../shared/data/snelson_train.csv
common=(--data "$data" --holdout in_gap_1p5_3 --arch 1-16-16-1:gelu --noise-std 0.285 --prior-precision 0.209
    --samples 1 --threads 1 --no-progress --max-steps 100000000)
mkdir -p "$out"
# The MAP and velocities the JAX runs start from (the CLI's exact mode for this seed).
./target/release/geodyn sample dims "${common[@]}" --t1 0.001 --out "$out/base" > /dev/null
for t in 2 10; do
    for r in 1e-7 1e-8 1e-9 1e-10 1e-12; do
        a=$(python3 -c "print(10 * $r)")
        for m in graph-rattle energy-projected energy-projected-dopri5; do
            if [[ $r == 1e-12 && $m != energy-projected ]]; then continue; fi
            # GraphRattle's energy tolerance rtol/100 meets its rounding floor beyond 1e-9.
            if [[ $r == 1e-10 && $m == graph-rattle ]]; then continue; fi
            o="$out/geodyn-$t-$r-$m"
            ./target/release/geodyn sample dims "${common[@]}" --t1 "$t" --atol "$a" --rtol "$r" --integrator "$m" \
                --out "$o" > /dev/null
            python3 - "$o/summary.json" "$m" "$t" "$r" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["per_sample"][0]
print(json.dumps({"code": "geodyn", "method": sys.argv[2], "t": float(sys.argv[3]), "rtol": float(sys.argv[4]),
                  "rhs": r["rhs_evaluations"], "wall_s": round(r["wall_time_s"], 3), "loss": r["final_loss"]}))
PY
        done
        if [[ $r != 1e-12 ]]; then
            python3 benches/jax/dims_diffrax.py --map "$out/base/map.npy" --velocities "$out/base/velocities.npy" \
                --data "$data" --arch 1-16-16-1 --noise-std 0.285 --prior-precision 0.209 --sampler dims --index 0 \
                --t1 "$t" --atol "$a" --rtol "$r" --no-bare 2> /dev/null | python3 -c "
import json, sys
for line in sys.stdin:
    if line.startswith('{'):
        j = json.loads(line)
        print(json.dumps({'code': 'jax', 'method': 'dopri5', 't': j['t1'], 'rtol': $r, 'rhs': j['rhs_evaluations'],
                          'wall_s': j['wall_s'], 'loss': j['final_loss']}))"
        fi
    done
done
