#!/usr/bin/env bash
# Per-sample cost of two builds of `geodyn`, measured back to back on one machine:
#   benches/cost_ab.sh OLD/geodyn NEW/geodyn [ROUNDS] [OUTDIR]
# Each round runs every case with both binaries, alternating which goes first, on one
# thread (--threads 1) so that the two runs of a pair see the same machine. A case is
# `geodyn sample <sampler>` on the embedded default data with 8 samples and the default
# integrator; the figure is the mean of summary.json's per-sample wall_time_s (MAP fit and
# I/O excluded). Prints one line per run and, per case, the median over rounds of the
# ratio new/old.
set -euo pipefail
old=$1; new=$2; rounds=${3:-3}; out=${4:-$(mktemp -d)}
mkdir -p "$out"
per_sample() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); w=[s['wall_time_s'] for s in d['per_sample']]; print(sum(w)/len(w))" "$1"; }
declare -A ratios
for r in $(seq 1 "$rounds"); do
    for case in dims rla; do
        if (( r % 2 )); then order=(old new); else order=(new old); fi
        declare -A t=()
        for which in "${order[@]}"; do
            bin=$old; [[ $which == new ]] && bin=$new
            dir="$out/$case-$which-$r"
            "$bin" sample "$case" --samples 8 --threads 1 --no-progress --out "$dir" > "$dir.log" 2>&1
            t[$which]=$(per_sample "$dir/summary.json")
            echo "round $r $case $which per-sample ${t[$which]} s"
        done
        ratios[$case]+="$(python3 -c "print(${t[new]} / ${t[old]})") "
    done
done
for case in dims rla; do
    python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[2].split()]; print(f'{sys.argv[1]}: median new/old per-sample time {statistics.median(v):.3f} over {len(v)} rounds (ratios {\" \".join(f\"{x:.3f}\" for x in v)})')" "$case" "${ratios[$case]}"
done
