#!/usr/bin/env bash
# Runs `geodyn sample` for every sampler and integrator on the embedded default data and
# on the real Snelson data, with the binary $1, writing each run to $2/<case>/.
# Compare two builds with: byte_identity.sh OLD/geodyn /tmp/a; byte_identity.sh NEW/geodyn /tmp/b;
# then `cmp` every samples.npy (or run `byte_identity.sh --compare /tmp/a /tmp/b`).
# The default integrator runs the README's full quick-start job; the others 4 samples to
# t1 = 5 (plain Tsitouras 5(4) on the stiff DiMS problem is slow by design).
set -euo pipefail
if [[ "${1:-}" == "--compare" ]]; then
    status=0
    for d in "$2"/*/; do
        c=$(basename "$d")
        for f in samples.npy map.npy velocities.npy; do
            [[ -f "$2/$c/$f" ]] || continue
            if cmp -s "$2/$c/$f" "$3/$c/$f"; then echo "identical  $c/$f"; else echo "DIFFERENT  $c/$f"; status=1; fi
        done
    done
    exit $status
fi
bin=$1; out=$2
shared="${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}"
snelson=(--data "$shared/data/snelson_train.csv" --inputs x --target y --holdout in_gap_1p5_3 --arch 1-16-16-1:gelu)
[[ -f "$shared/data/snelson_train.csv" ]] || { echo "missing $shared/data/snelson_train.csv (set SHARED)" >&2; exit 2; }
mkdir -p "$out"
run() { # case-name args...
    local c=$1; shift
    local s=$SECONDS
    "$bin" sample "$@" --out "$out/$c" --no-progress > "$out/$c.log" 2>&1
    echo "$c $((SECONDS - s)) s"
}
for data in default snelson; do
    extra=(); [[ $data == snelson ]] && extra=("${snelson[@]}")
    run "$data-dims-default" dims "${extra[@]}"
    run "$data-rla-default" rla "${extra[@]}"
    for integ in tsit45 energy-projected energy-projected-dopri5 graph-rattle; do
        run "$data-dims-$integ" dims --integrator "$integ" --samples 4 --t1 5 "${extra[@]}"
        run "$data-rla-$integ" rla --integrator "$integ" --samples 4 "${extra[@]}"
    done
    run "$data-laplace" laplace "${extra[@]}"
    run "$data-laplace-linearised" laplace --linearised "${extra[@]}"
done
