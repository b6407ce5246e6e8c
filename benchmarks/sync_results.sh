#!/usr/bin/env bash
# Copy the small, finished outputs of the ablation runs (config, metrics, curves, confusion
# matrix; no weights) from RUN into benchmarks/results/mae_teacher/, then rebuild the report.
# Usage: bash benchmarks/sync_results.sh [RUN]
set -euo pipefail
RUN=${1:-runs/mae_teacher}
DEST=benchmarks/results/mae_teacher
for d in "$RUN"/*/; do
    name=$(basename "$d")
    [[ -f "$d/metrics.json" ]] || continue
    mkdir -p "$DEST/$name"
    for f in config.json metrics.json training_curves.png confusion_test.png; do
        [[ -f "$d/$f" ]] && cp "$d/$f" "$DEST/$name/"
    done
done
[[ -d runs/keying ]] && for d in runs/keying/*/; do
    [[ -f "$d/metrics.json" ]] || continue
    mkdir -p "benchmarks/results/keying/$(basename "$d")"
    cp "$d"/{config.json,metrics.json,training_curves.png} "benchmarks/results/keying/$(basename "$d")/" 2>/dev/null || true
done
bench=()  # the int8 .pte latency column, from benchmarks/ablation_latency.sh (quiet machine)
[[ -f "$DEST/pte_latency.json" ]] && bench=(--bench "$DEST/pte_latency.json")
python benchmarks/mae_teacher_report.py "$RUN" --plot "$DEST/ablation.png" "${bench[@]}" > "$DEST/report.md"
cat "$DEST/report.md"
