#!/usr/bin/env bash
# Re-make the sample scans in resources/scans from held-out chairs of the default model (recipe/chairs_test.json).
# Usage: bash resources/recipe/make_scans.sh [RUN_DIR]   (the folder train_default.sh used)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${1:-$here/../../../default-run}
out=$here/../scans
m=$run/meshes/chairs
deepsdf render-depth "$m/chairs_00000.ply" --view=30,20 -o "$out/chair_00000_front_left.png"
deepsdf render-depth "$m/chairs_00005.ply" --view=-45,25 -o "$out/chair_00005_front_right.png"
deepsdf render-depth "$m/chairs_00013.ply" --view=150,30 -o "$out/chair_00013_back.png"
deepsdf render-depth "$m/chairs_00006.ply" --view=10,15 --sensor-noise --seed 1 -o "$out/chair_00006_kinect_noise.png"
# a sensor's view of a room (mm, intrinsics only: no pose) with two of them, a box and walls
deepsdf render-depth "$m/chairs_00013.ply" "$m/chairs_00000.ply" --scene --seed 9 -o "$out/room_two_chairs.png"
