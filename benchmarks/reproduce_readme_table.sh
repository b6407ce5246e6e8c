#!/usr/bin/env bash
# Reproduces the README's benchmark table: the shipped model exported to every target and
# quantization, measured against eager PyTorch, torch.compile and onnxruntime fp32, with
# balanced accuracy on the test split of DATA (default: the shipped sample; the README used
# DATA=../shared/data/ham10000, the development copy). Writes benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
skinedge bench --data "${DATA:-skinedge/assets/ham10000_sample}" --split test --batch-sizes 1,8 \
    --rounds 3 --runs 30 --out benchmarks/results "$@"
