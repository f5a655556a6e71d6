#!/usr/bin/env bash
# Train the candidate for the next default model (issue 11, item 6): 240 synthetic chairs (191 train: chair
# 173 was skipped when the run began and the split is pinned; 48 held out), a 8x144 decoder with SAL's geometric init
# (the 64^3 slider preview must stay <= 100 ms: 8x160 measured 91 ms at epoch 40, 8x128 52 ms), stage 1 =
# specs.json. Resumable: meshes and samples are kept, training continues from its latest snapshot; seed the
# run from checkpoint/ (committed) with
#     mkdir -p RUN/exp && cp -r resources/recipe/candidate/checkpoint/* RUN/exp/
# Usage: bash resources/recipe/candidate/train.sh [RUN_DIR]   (default: ../candidate-run beside the checkout)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${1:-$here/../../../../candidate-run}
deepsdf synth --category chairs --count 240 --seed 0 "$run/meshes/chairs"
deepsdf prepare "$run/meshes/chairs" "$run/data" --samples 250000 --split-test 0.2 --seed 0
mkdir -p "$run/exp"
for stage in specs.json $(cd "$here" && ls specs_stage*.json 2>/dev/null | sort -V); do
    cp "$here/$stage" "$run/exp/specs.json"   # a stage already done returns at once
    cp "$here"/chairs_train.json "$here"/chairs_test.json "$run/exp/"  # the split is pinned: one code per listed chair
    deepsdf train "$run/exp" --resume
done
