#!/usr/bin/env bash
# One prepared command for a lent GPU (the `device` tool: one call, at most 10 minutes, only
# $OUT comes back, a few files): MAE pre-training of a ViT-B/16 at 224 px (preset gpu, fewer
# epochs), teacher fine-tuning from it, then the student distilled from that live teacher on
# the GPU (consistent teaching: the teacher scores each augmented batch the student sees).
# Back come the student's best checkpoint (mobilenetv4_conv_small, 10 MB, card included), the
# curves, the cards and the log; not the ViT-B's weights (340 MB). With TEACH=1 the teacher's
# logits for every training image under 8 fixed views (`skinedge teach`, about 1 MB) come back
# as well, for `skinedge distill --teacher-labels` here. On the CPU ablation that cached path
# came out level with a live teacher (README, arm (f')); the live teacher costs little on a
# GPU and keeps the student's augmented view, so the student is distilled there.
#
# Each stage runs under a time budget (seconds): a stage cut short keeps its best epoch so
# far (checkpoints are written every epoch), and the next stage starts from it; the log says so.
#
# Before the call (here): copy the development images into an ignored folder that travels:
#   mkdir -p .gpu_data && cp -r ../shared/data/ham10000/{images,HAM10000_metadata.csv,README.md} .gpu_data/
#   (.gitignore ignores /.gpu_data/, so it travels only when carried)
# The call:  run(command="bash benchmarks/gpu_teacher.sh", carry=[".gpu_data"], timeout_s=600)
# After (here): score the student it brought back on the same test split, and export it:
#   skinedge eval <files_at>/student --data ../shared/data/ham10000 --split test --json
#   skinedge export --model <files_at>/student --target all --out runs/gpu_student_artifacts
# Plumbing check on a CPU (minutes): SMOKE=1 OUT=/tmp/gpu_out bash benchmarks/gpu_teacher.sh
set -euo pipefail
DATA=${DATA:-.gpu_data}
OUT=${OUT:-gpu_out}
RUN=${RUN:-runs/gpu_teacher}
SPLIT=${SPLIT:-skinedge/assets/default_model/split.json}
PY=${PY:-python3}
if [[ "${SMOKE:-0}" == 1 ]]; then   # the same stages at toy size, on the shipped sample
    DATA=${SMOKE_DATA:-skinedge/assets/ham10000_sample}; SPLIT=""
    PRE=(--preset smoke); TEACH_ARGS=(--arch vit_tiny_patch16 --img-size 32 --epochs 1 --max-batches 2)
    STUDENT_ARGS=(--img-size 32 --epochs 1 --max-batches 2)
    MAE_BUDGET=300; TEACHER_BUDGET=300; STUDENT_BUDGET=300
else
    PRE=(--preset gpu --epochs "${MAE_EPOCHS:-60}" --warmup 5 --workers 8)
    TEACH_ARGS=(--arch vit_base_patch16_teacher --img-size 224 --epochs "${TEACHER_EPOCHS:-20}"
                --batch-size 128 --lr 5e-4 --layer-decay 0.65 --drop-path 0.1 --workers 8)
    STUDENT_ARGS=(--img-size 224 --epochs "${STUDENT_EPOCHS:-60}" --batch-size 128 --drop-rate 0.2
                  --workers 8)
    MAE_BUDGET=${MAE_BUDGET:-180}; TEACHER_BUDGET=${TEACHER_BUDGET:-150}
    STUDENT_BUDGET=${STUDENT_BUDGET:-180}
fi
SPLIT_ARGS=(); [[ -n "$SPLIT" ]] && SPLIT_ARGS=(--split-file "$SPLIT")
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$RUN"
LOG=$OUT/log.txt
say() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }
stage() {  # stage NAME BUDGET_S ARGS...: run a skinedge command under a time budget
    local name=$1 budget=$2; shift 2
    say "$name: skinedge $* (budget ${budget}s)"
    set +e
    timeout -s INT "$budget" "$PY" -m skinedge.cli "$@" --no-progress >>"$LOG" 2>&1
    local rc=$?
    set -e
    case $rc in
        0) say "$name: done" ;;
        124|130) say "$name: cut at its ${budget}s budget; continuing from its best epoch so far" ;;
        *) say "$name: failed (exit $rc)"; exit "$rc" ;;
    esac
}
say "device: $("$PY" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")')"
stage pretrain "$MAE_BUDGET" pretrain --data "$DATA" --out "$RUN/pretrain" "${PRE[@]}" "${SPLIT_ARGS[@]}"
[[ -n "$SPLIT" ]] || SPLIT_ARGS=(--split-file "$RUN/pretrain/split.json")
# A stage cut at its budget leaves an unfinished run: the next one takes its best epoch so far
# on purpose (--allow-unfinished; without it, an unfinished run is refused).
stage teacher "$TEACHER_BUDGET" train --data "$DATA" --out "$RUN/teacher" --init "$RUN/pretrain/best" \
    --allow-unfinished "${TEACH_ARGS[@]}" "${SPLIT_ARGS[@]}"
stage student "$STUDENT_BUDGET" distill --data "$DATA" --out "$RUN/student" --allow-unfinished \
    --teacher "$RUN/teacher/best" "${STUDENT_ARGS[@]}" "${SPLIT_ARGS[@]}"
if [[ "${TEACH:-0}" == 1 ]]; then
    stage teach 90 teach --teacher "$RUN/teacher/best" --allow-unfinished --data "$DATA" \
        "${SPLIT_ARGS[@]}" --out "$OUT/teacher_labels.safetensors"
fi
mkdir -p "$OUT/student"
cp "$RUN/student/best/"{card.json,model.safetensors} "$OUT/student/"
for f in pretrain/training_curves.png pretrain/reconstructions.png teacher/training_curves.png \
         teacher/best/card.json student/training_curves.png; do
    [[ -f "$RUN/$f" ]] && cp "$RUN/$f" "$OUT/$(echo "$f" | tr / _)"
done
"$PY" - "$RUN" "$OUT/summary.json" <<'EOF'
import json, sys
from pathlib import Path
run, out = Path(sys.argv[1]), Path(sys.argv[2])
doc = {}
for stage in ("pretrain", "teacher", "student"):
    p = run / stage / "last" / "trainer_state.json"
    if p.is_file():
        st = json.loads(p.read_text())
        doc[stage] = {"epochs": st["epoch"], "best": st["best"], "history": st["history"]}
out.write_text(json.dumps(doc, indent=1))
EOF
say "done: $(ls "$OUT" | tr '\n' ' ')"
