#!/usr/bin/env bash
# Train a candidate for the next default model (issue 11, item 6): 240 synthetic chairs (191 train: chair 173
# was skipped when the first candidate began and the split is pinned; 48 held out), a 8x144 decoder with SAL's
# geometric init (the 64^3 slider preview must stay <= 100 ms: 8x160 measured 91 ms at epoch 40, 8x128 52 ms).
# SPECS_DIR holds specs.json (and any specs_stage*.json, run in order): this folder (the first candidate, with
# the code regulariser) or ../candidate_noreg (without it). The experiment is RUN_DIR/<SPECS_DIR's name>.
# Resumable: meshes and samples are kept, training continues from its latest snapshot; seed the run from a
# committed checkpoint with
#     mkdir -p RUN/candidate && cp -r resources/recipe/candidate/checkpoint/* RUN/candidate/
# Usage: bash resources/recipe/candidate/train.sh [RUN_DIR [SPECS_DIR]]   (default: ../candidate-run beside the checkout)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${1:-$here/../../../../candidate-run}
specs=$(cd "${2:-$here}" && pwd)
exp="$run/$(basename "$specs")"
deepsdf synth --category chairs --count 240 --seed 0 "$run/meshes/chairs"
deepsdf prepare "$run/meshes/chairs" "$run/data" --samples 250000 --split-test 0.2 --seed 0
mkdir -p "$exp"
for stage in specs.json $(cd "$specs" && ls specs_stage*.json 2>/dev/null | sort -V); do
    cp "$specs/$stage" "$exp/specs.json"   # a stage already done returns at once
    cp "$here"/chairs_train.json "$here"/chairs_test.json "$exp/"  # the split is pinned: one code per listed chair
    deepsdf train "$exp" --resume
done
