#!/usr/bin/env bash
# Waits for the MAE run, then fine-tunes two ViT-Ti teachers side by side (one thread each):
# from the MAE encoder, and from scratch; same recipe, split and seed.
cd /work/main
while pgrep -f "skinedge pretrain --data" >/dev/null; do sleep 15; done
R=runs/mae_teacher
T=(--data ../shared/data/ham10000 --img-size 128 --arch vit_tiny_patch16 --epochs 12 --lr 1e-3
   --drop-path 0.1 --split-file $R/pretrain/split.json --no-progress)
# Layer-wise decay is a fine-tuning device (lower blocks keep pre-trained features); from
# scratch every block must learn, so the control trains all blocks at the full rate.
OMP_NUM_THREADS=1 skinedge train "${T[@]}" --layer-decay 0.75 --init $R/pretrain/best --out $R/teacher_mae > $R/teacher_mae.log 2>&1 &
OMP_NUM_THREADS=1 skinedge train "${T[@]}" --out $R/teacher_scratch > $R/teacher_scratch.log 2>&1 &
wait
