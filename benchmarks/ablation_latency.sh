#!/usr/bin/env bash
# The ablation table's "int8 .pte ms" column: export one checkpoint per (architecture, input
# size) of the ablation to an int8 ExecuTorch .pte (the parity gate runs as in any export) and
# time them with `skinedge bench`, batch 1, on this host. Latency depends on the graph, not the
# weights, so one seed stands for its arm. Run it on a quiet machine (pause training first:
# the figures are only worth quoting when nothing else holds the cores).
# Usage: bash benchmarks/ablation_latency.sh [RUN]   -> benchmarks/results/mae_teacher/pte_latency.json
set -euo pipefail
RUN=${1:-runs/mae_teacher}
DATA=${DATA:-../shared/data/ham10000}
WORK=runs/ablation_latency
DEST=benchmarks/results/mae_teacher
artifacts=()
# name[:recipe]: the 8-view variant (item 8) is the 128 px student with the average in the graph.
for job in student_plain_s0 teacher_mae student_res224_s0 student_plain_s0:executorch-int8-tta8; do
    name=${job%%:*}
    recipe=${job#"$name"}; recipe=${recipe#:}
    ckpt="$RUN/$name/best"
    if [[ ! -f "$RUN/$name/metrics.json" ]]; then
        echo "skip $name: not finished" >&2
        continue
    fi
    out="$WORK/$name${recipe:+_$recipe}"
    pte=$(ls "$out"/*.pte 2>/dev/null | head -1 || true)
    if [[ -z "$pte" ]]; then
        if [[ -n "$recipe" ]]; then
            skinedge export "$ckpt" --recipe "$recipe" --data "$DATA" --no-golden --out "$out"
        else
            skinedge export "$ckpt" --target executorch --quant int8 --data "$DATA" --no-golden \
                --out "$out"
        fi
        pte=$(ls "$out"/*.pte | head -1)
    fi
    artifacts+=("$pte")
done
skinedge bench "${artifacts[@]}" --target executorch --batch-sizes 1 --data "$DATA" \
    --split test --no-compile --out "$WORK/bench"
mkdir -p "$DEST"
cp "$WORK/bench/latest.json" "$DEST/pte_latency.json"
cp "$WORK/bench/latest.md" "$DEST/pte_latency.md"
echo "-> $DEST/pte_latency.json"
