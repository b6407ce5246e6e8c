#!/usr/bin/env bash
# The paper's core at CPU scale on the development data, resumable (rerun the same command;
# finished runs are only re-scored). Everything uses the shipped student's split (seed 0).
#   1. MAE pre-training of ViT-Tiny/16 at 128 px on the train split          RUN/pretrain
#   2. teacher fine-tuning from the MAE encoder                               RUN/teacher_mae
#   3. student (mobilenetv4_conv_small, 128 px) distilled from that teacher   RUN/student_kd_s$SEED
# With ABLATION=1 also the controls, per seed: the teacher from scratch (RUN/teacher_scratch)
# and the student without a teacher (RUN/student_plain_s$SEED), same recipe and steps.
# Usage: DATA=../shared/data/ham10000 bash benchmarks/mae_teacher.sh
set -euo pipefail
DATA=${DATA:-../shared/data/ham10000}
RUN=${RUN:-runs/mae_teacher}
EPOCHS=${EPOCHS:-16}            # MAE epochs (~90 s each on 2 idle cores)
TEACHER_EPOCHS=${TEACHER_EPOCHS:-20}
STUDENT_EPOCHS=${STUDENT_EPOCHS:-30}
SEEDS=${SEEDS:-0}
COMMON=(--data "$DATA" --img-size 128)
TEACHER=(--arch vit_tiny_patch16 --epochs "$TEACHER_EPOCHS" --lr 1e-3 --layer-decay 0.75
         --drop-path 0.1 --split-file "$RUN/pretrain/split.json")
STUDENT=(--epochs "$STUDENT_EPOCHS" --drop-rate 0.2 --split-file "$RUN/pretrain/split.json")

skinedge pretrain "${COMMON[@]}" --out "$RUN/pretrain" --arch vit_tiny_patch16 \
    --epochs "$EPOCHS" --batch-size 64
skinedge train "${COMMON[@]}" "${TEACHER[@]}" --init "$RUN/pretrain/best" --out "$RUN/teacher_mae"
for s in $SEEDS; do
    skinedge distill "${COMMON[@]}" "${STUDENT[@]}" --seed "$s" --teacher "$RUN/teacher_mae/best" \
        --out "$RUN/student_kd_s$s"
done
if [[ "${ABLATION:-0}" == 1 ]]; then
    skinedge train "${COMMON[@]}" "${TEACHER[@]}" --out "$RUN/teacher_scratch"
    for s in $SEEDS; do
        skinedge train "${COMMON[@]}" "${STUDENT[@]}" --seed "$s" --out "$RUN/student_plain_s$s"
    done
fi
python benchmarks/mae_teacher_report.py "$RUN" > "$RUN/report.md"
cat "$RUN/report.md"
