#!/usr/bin/env bash
# Re-train the shipped default model from scratch (or resume it): synth -> prepare -> train.
# Usage: bash resources/recipe/train_default.sh [RUN_DIR]   (default: ../default-run)
# Every step is resumable: existing meshes and samples are kept, training continues from its
# latest snapshot. The finished bundle is RUN_DIR/exp/bundle.safetensors.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${1:-$here/../../../default-run}
deepsdf synth --category chairs --count 120 --seed 0 "$run/meshes/chairs"
deepsdf prepare "$run/meshes/chairs" "$run/data" --samples 250000 --split-test 0.2 --seed 0
mkdir -p "$run/exp"
[ -f "$run/exp/specs.json" ] || cp "$here/specs.json" "$run/exp/specs.json"
deepsdf train "$run/exp" --resume
