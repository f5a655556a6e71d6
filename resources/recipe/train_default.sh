#!/usr/bin/env bash
# Re-train the shipped default model from scratch (or resume it): synth -> prepare -> train.
# Usage: bash resources/recipe/train_default.sh [RUN_DIR]   (default: ../default-run)
# Every step is resumable: existing meshes and samples are kept, training continues from its
# latest snapshot. The finished bundle is RUN_DIR/exp/bundle.safetensors.
#
# Training runs in stages, each a specs file: stage 1 (specs.json) is epochs 1-3200 with the learning
# rate halving every 400; stages 2, 3, ... (specs_stage*.json, in numeric order) are warm restarts of 800
# epochs each (lr back to 1e-4, codes 1e-3, halving every 200). By epoch 3200 a halving barely moved the
# loss; each restart lowered it again (resources/README.md has the Chamfer distance after each stage).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${1:-$here/../../../default-run}
deepsdf synth --category chairs --count 120 --seed 0 "$run/meshes/chairs"
deepsdf prepare "$run/meshes/chairs" "$run/data" --samples 250000 --split-test 0.2 --seed 0
mkdir -p "$run/exp"
for stage in specs.json $(cd "$here" && ls specs_stage*.json | sort -V); do
    cp "$here/$stage" "$run/exp/specs.json"   # a stage already done returns at once
    deepsdf train "$run/exp" --resume
done
