#!/usr/bin/env bash
# Reproduce benchmarks/results/synth_cpu/: train the CPU preset of the latent diffusion model,
# sample a rebalanced synthetic set, train the 64 px student with and without it (two seeds,
# one split), and write the quality + downstream report.
#
#   DATA=../shared/data/ham10000 bash benchmarks/synth_downstream.sh
#
# About 2 hours on a 2-core CPU: ~55 min diffusion training, ~5 min sampling, 4 x ~10 min
# student trainings, ~3 min report. Every step resumes if rerun after an interruption.
set -euo pipefail
DATA=${DATA:-../shared/data/ham10000}
RUNS=${RUNS:-runs}
BALANCE_TO=${BALANCE_TO:-800}
GUIDANCE=${GUIDANCE:-2.0}
EPOCHS=${EPOCHS:-30}
OUT=${OUT:-benchmarks/results/synth_cpu}

skinedge synth train --data "$DATA" --out "$RUNS/synth_cpu"
skinedge synth sample "$RUNS/synth_cpu" --out "$RUNS/synth_cpu_balanced" \
    --balance-to "$BALANCE_TO" --guidance "$GUIDANCE"
# One split for every student: seed 0 makes the diffusion model's split (same data, seed and
# fractions; `skinedge train --synthetic` checks the fingerprint), and the seed-1 runs reuse
# it with --split-file, so the seed varies only the training.
STUDENT=(--data "$DATA" --img-size 64 --epochs "$EPOCHS" --drop-rate 0.2 --no-progress)
SPLIT=(--split-file "$RUNS/synth_cpu/split.json")
skinedge train "${STUDENT[@]}" --out "$RUNS/downstream/real_only_64_s0"
skinedge train "${STUDENT[@]}" --out "$RUNS/downstream/synth_64_s0" --synthetic "$RUNS/synth_cpu_balanced"
skinedge train "${STUDENT[@]}" "${SPLIT[@]}" --seed 1 --out "$RUNS/downstream/real_only_64_s1"
skinedge train "${STUDENT[@]}" "${SPLIT[@]}" --seed 1 --out "$RUNS/downstream/synth_64_s1" \
    --synthetic "$RUNS/synth_cpu_balanced"
skinedge synth report "$RUNS/synth_cpu_balanced" --data "$DATA" --out "$OUT" \
    --baseline-run "$RUNS"/downstream/real_only_64_s{0,1} \
    --synthetic-run "$RUNS"/downstream/synth_64_s{0,1}
mkdir -p "$OUT/training"
cp "$RUNS/synth_cpu/loss_curves.png" "$RUNS/synth_cpu/samples/"*.png "$RUNS/synth_cpu/model/synth_card.json" "$OUT/training/"
