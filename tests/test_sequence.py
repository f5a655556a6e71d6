"""Sequences of depth frames with camera poses: the pose formats, their conventions checked, keyframes, and
objects associated across frames. A sweep rendered around a synthetic room gives the true poses."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from core.data.shapes import make_shape
from core.fileio import DataError
from core.scans.scan import write_depth_png
from core.scans.scene import render_sweep, sensor_camera
from core.scans.sequence import associate, check_poses, keyframes, load_sequence, read_pose_file

VIEWS = 3


@pytest.fixture(scope="module")
def sweep():
    return render_sweep([make_shape("chairs", 7)], ["chairs_00007"], seed=3, camera=sensor_camera(320, 240), views=VIEWS)


def _sensor(folder: Path, cam) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sensor.json").write_text(json.dumps({"intrinsics": cam.to_dict(), "depth": {"per_metre": 1000}}))


def _quat_row(T: np.ndarray) -> list[float]:
    return [*T[:3, 3], *Rotation.from_matrix(T[:3, :3]).as_quat()]


def seven_scenes(sweep, folder: Path, invert: bool = False) -> Path:
    _sensor(folder, sweep[0].camera)
    for k, r in enumerate(sweep):
        write_depth_png(r.depth, folder / f"frame-{k:06d}.depth.png")
        T = np.linalg.inv(r.camera_to_world) if invert else r.camera_to_world
        np.savetxt(folder / f"frame-{k:06d}.pose.txt", T)
    return folder


def test_every_pose_format_gives_the_true_poses(sweep, tmp_path):
    truth = [r.camera_to_world for r in sweep]
    layouts = {}
    layouts["7-scenes"] = seven_scenes(sweep, tmp_path / "7scenes")
    # TUM: depth images named by timestamp, listed in depth.txt; poses at other times (within 20 ms), and
    # an extra pose between frames that must not be taken
    tum = tmp_path / "tum"
    _sensor(tum, sweep[0].camera)
    (tum / "depth").mkdir()
    stamps = [1305031102.0 + k for k in range(VIEWS)]
    for t, r in zip(stamps, sweep):
        write_depth_png(r.depth, tum / "depth" / f"{t:.6f}.png")
    (tum / "depth.txt").write_text("# timestamp filename\n" + "".join(f"{t:.6f} depth/{t:.6f}.png\n" for t in stamps))
    rows = [[t + 0.013, *_quat_row(T)] for t, T in zip(stamps, truth)] + [[stamps[0] + 0.5, *_quat_row(np.eye(4))]]
    (tum / "groundtruth.txt").write_text("# timestamp tx ty tz qx qy qz qw\n" +
                                          "".join(" ".join(f"{x:.9f}" for x in r) + "\n" for r in rows))
    layouts["tum"] = tum
    # Open3D / Redwood .log and slambook pose.txt, in the frames' name order
    for name, text in (("redwood", "".join(f"{k} {k} {k + 1}\n" + "\n".join(" ".join(f"{x:.9f}" for x in row) for row in T) + "\n"
                                           for k, T in enumerate(truth))),
                       ("slambook", "".join(" ".join(f"{x:.9f}" for x in _quat_row(T)) + "\n" for T in truth))):
        folder = tmp_path / name
        _sensor(folder, sweep[0].camera)
        (folder / "depth").mkdir()
        for k, r in enumerate(sweep):
            write_depth_png(r.depth, folder / "depth" / f"{k:05d}.png")
        (folder / ("trajectory.log" if name == "redwood" else "pose.txt")).write_text(text)
        layouts[name] = folder
    for name, folder in layouts.items():
        seq = load_sequence([folder])
        assert len(seq) == VIEWS, name
        for got, want in zip(seq.camera_to_world, truth):
            assert np.allclose(got, want, atol=1e-5), name
        assert max(check_poses(seq)) < 0.02, name  # the frames agree to the sensor's noise
    assert read_pose_file(tum / "groundtruth.txt")[0] == "tum"
    assert read_pose_file(layouts["redwood"] / "trajectory.log")[0] == "log"
    assert read_pose_file(layouts["slambook"] / "pose.txt")[0] == "slambook"


def test_a_wrong_convention_is_refused_with_the_disagreement(sweep, tmp_path):
    folder = seven_scenes(sweep, tmp_path / "inverted", invert=True)
    with pytest.raises(DataError, match=r"disagree by a median of [\d.]+ cm|sees almost nothing") as e:
        load_sequence([folder])
    assert "world-to-camera" in str(e.value)  # the way out is named
    seq = load_sequence([folder], invert=True)
    assert np.allclose(seq.camera_to_world[1], sweep[1].camera_to_world, atol=1e-6)


def test_frames_without_a_pose_are_named_and_left_out(sweep, tmp_path):
    folder = seven_scenes(sweep, tmp_path / "missing")
    (folder / "frame-000001.pose.txt").unlink()
    said = []
    seq = load_sequence([folder], warn=said.append)
    assert seq.names() == ["frame-000000.depth.png", "frame-000002.depth.png"]
    assert any("frame-000001.depth.png" in m and "without a pose" in m for m in said)
    # a timestamp gap: TUM's pose for the second frame 50 ms off is not associated
    assert associate([0.0, 1.0, 2.0], [0.01, 1.05, 1.99]) == [(0, 0), (2, 2)]
    # several files need their poses
    with pytest.raises(DataError, match="--poses"):
        load_sequence(sorted(folder.glob("*.depth.png")))
    # and a frame file names its pose folder
    assert len(load_sequence(sorted(folder.glob("*.depth.png")), poses=folder)) == 2


def test_keyframes_bound_the_frames_read():
    frames = list(range(1000))
    assert keyframes(frames, stride=10, max_frames=5) == [0, 250, 500, 740, 990]
    assert keyframes(frames, stride=400) == [0, 400, 800]
    with pytest.raises(ValueError):
        keyframes(frames, stride=0)


def test_the_chair_is_one_object_across_the_frames_and_the_floor_is_shared(sweep, tmp_path):
    from core.scans.fusion import find_objects, segment_sequence

    seq = load_sequence([seven_scenes(sweep, tmp_path / "objects")])
    segs, floor = segment_sequence(seq)
    assert floor.normal @ [0, 1, 0] > 0.999 and abs(floor.offset) < 0.02  # the world's floor: y = 0
    objects = find_objects(seq, segs, floor, warn=lambda m: None)

    def chair_pixels(obj):
        return sum(((sweep[v.frame].labels == 1) & (segs[v.frame].labels == v.segment.label)).sum() for v in obj.views)

    chair = max(objects, key=chair_pixels)
    assert sorted(v.frame for v in chair.views) == list(range(VIEWS))  # seen in every frame, joined once
    for v in chair.views:  # each view is the chair's segment, not the box's
        share = ((sweep[v.frame].labels == 1) & (segs[v.frame].labels == v.segment.label)).sum() / v.segment.pixels
        assert share > 0.8
