#!/usr/bin/env bash
# Copy the small, finished outputs of the ablation runs (config, metrics, card, curves,
# confusion matrix; no weights) from RUN into benchmarks/results/mae_teacher/, then rebuild the
# report from that folder alone: RUN (runs/, ignored) does not outlive a session here, so the
# committed copy is what every later table is built from.
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
    [[ -f "$d/best/card.json" ]] && cp "$d/best/card.json" "$DEST/$name/card.json"
done
# Runs redone after the resume bug (0e57915), kept for comparison: metrics and config only.
for d in "$RUN"/_resumed_without_dropout/*/; do
    [[ -f "$d/metrics.json" ]] || continue
    mkdir -p "$DEST/_resumed_without_dropout/$(basename "$d")"
    cp "$d/config.json" "$d/metrics.json" "$DEST/_resumed_without_dropout/$(basename "$d")/"
done
# The MAE runs behind (d) and (e): config, last state (loss history), curves, reconstructions.
for name in pretrain pretrain_synth; do
    [[ -f "$RUN/$name/last/trainer_state.json" ]] || continue
    python -c 'import sys; from pathlib import Path; sys.path.insert(0, "benchmarks"); from ablation import finished; sys.exit(not finished(Path(sys.argv[1])))' \
        "$RUN/$name/last/trainer_state.json" || continue  # still running (the queue's own test)
    mkdir -p "$DEST/$name"
    cp "$RUN/$name/config.json" "$RUN/$name/split.json" "$RUN/$name/last/trainer_state.json" "$DEST/$name/"
    for f in training_curves.png reconstructions.png; do
        [[ -f "$RUN/$name/$f" ]] && cp "$RUN/$name/$f" "$DEST/$name/"
    done
done
# The diffusion model behind arms (b), (e), (g): its card, curves, last sample grid, and the
# manifest of the rebalanced set it sampled (no weights, no images).
if [[ -f "$RUN/synth/model/synth_card.json" ]]; then
    mkdir -p "$DEST/synth"
    cp "$RUN/synth/config.json" "$RUN/synth/loss_curves.png" "$RUN/synth/model/synth_card.json" "$DEST/synth/"
    last=$(ls "$RUN"/synth/samples/unet_step*.png 2>/dev/null | sort | tail -1 || true)
    [[ -n "$last" ]] && cp "$last" "$DEST/synth/samples.png"
    [[ -f "$RUN/synth_balanced/synth_manifest.json" ]] && cp "$RUN/synth_balanced/synth_manifest.json" "$DEST/synth/"
fi
[[ -d runs/keying ]] && for d in runs/keying/*/; do
    [[ -f "$d/metrics.json" ]] || continue
    mkdir -p "benchmarks/results/keying/$(basename "$d")"
    cp "$d"/{config.json,metrics.json,training_curves.png} "benchmarks/results/keying/$(basename "$d")/" 2>/dev/null || true
done
bench=()  # the int8 .pte latency column, from benchmarks/ablation_latency.sh (quiet machine)
[[ -f "$DEST/pte_latency.json" ]] && bench=(--bench "$DEST/pte_latency.json")
views=()  # the ARM_tta8 rows: `python benchmarks/ensemble_headroom.py --views 8 --arms student_plain student_kd`
[[ -d runs/ensemble_headroom ]] && views=(--views-cache runs/ensemble_headroom)
python benchmarks/mae_teacher_report.py "$DEST" --plot "$DEST/ablation.png" "${bench[@]}" "${views[@]}" > "$DEST/report.md"
cat "$DEST/report.md"
