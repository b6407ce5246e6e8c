#!/usr/bin/env bash
# Waits for both teachers, then trains two students side by side (one thread each), same
# recipe, split, seed and steps: distilled from the MAE teacher, and without a teacher.
cd /work/main
while pgrep -f "skinedge train --data ../shared/data/ham10000 --img-size 128 --arch vit_tiny" >/dev/null; do sleep 15; done
R=runs/mae_teacher
S=(--data ../shared/data/ham10000 --img-size 128 --epochs 10 --drop-rate 0.2
   --split-file $R/pretrain/split.json --no-progress)
OMP_NUM_THREADS=1 python -m skinedge.cli distill "${S[@]}" --teacher $R/teacher_mae/best --out $R/student_kd_s0 > $R/student_kd.log 2>&1 &
OMP_NUM_THREADS=1 python -m skinedge.cli train "${S[@]}" --out $R/student_plain_s0 > $R/student_plain.log 2>&1 &
wait
