#!/usr/bin/env bash
# MAE teacher on the development data, CPU scale, resumable (rerun the same command).
# Stage 1: MAE pre-training of ViT-Tiny/16 at 128 px on the train split (same split as the
# shipped student: seed 0). Later stages (fine-tune the teacher with --init, distil the
# student) follow in the same run folder.
set -euo pipefail
DATA=${DATA:-../shared/data/ham10000}
RUN=${RUN:-runs/mae_teacher}
EPOCHS=${EPOCHS:-30}
skinedge pretrain --data "$DATA" --out "$RUN/pretrain" --arch vit_tiny_patch16 --img-size 128 \
    --epochs "$EPOCHS" --batch-size 64 "$@"
