"""evaluate --experiments real: sensor folders laid out like ../shared/realdata/frames, made here with the
synthetic renderer (no real data in the project)."""
import csv
import json

import numpy as np
import pytest

from core.cli import main
from core.data.shapes import make_shape
from core.evaluation.real_frames import find_frames, iou
from core.scans.check import seen_through
from core.fileio import DataError
from core.scans.scan import Camera, back_project, load_scan, write_depth_png
from core.scans.scene import render_scene, sensor_camera


def _sensor_folder(root, name, frames, camera, per_metre=1000):
    folder = root / name
    folder.mkdir(parents=True)
    for k, depth in enumerate(frames):
        write_depth_png(depth, folder / f"frame-{k:06d}.depth.png")
    (folder / "sensor.json").write_text(json.dumps({
        "intrinsics": {"fx": camera.fx, "fy": camera.fy, "cx": camera.cx, "cy": camera.cy,
                       "width": camera.width, "height": camera.height},
        "depth": {"files": "frame-*.depth.png", "format": "png16", "per_metre": per_metre, "no_reading": [0, 65535]}}))
    return folder


def test_real_frames_are_completed_and_scored_against_labelled_boxes(tiny_experiment, tmp_path, monkeypatch):
    import core.scans.check as check

    # the tiny model's blobs are no chairs to the check (tested on its own): here every fit is accepted
    monkeypatch.setattr(check, "LIMITS", {"unexplained": 1e9, "free_space": 1e9})
    monkeypatch.setattr(check, "HEIGHT", (1e-6, 1e9))
    render = render_scene([make_shape("chairs", 7)], ["chairs_00007"], seed=3, camera=sensor_camera(320, 240))
    v, u = np.nonzero(render.labels == 1)
    box = [int(u.min()), int(v.min()), int(u.max()) + 1, int(v.max()) + 1]
    walls = render.depth.copy()
    walls[render.labels >= 1] = np.nan  # the same room without its chair and its clutter
    frames = tmp_path / "frames"
    _sensor_folder(frames, "room", [render.depth, walls], render.camera)
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"frames": {"room/frame-000000.depth.png": {"chairs": [{"box": box, "in_view_half": True}]},
                                             "room/frame-000001.depth.png": {"chairs": []}}}))
    assert [f.key for f in find_frames(frames)] == ["room/frame-000000.depth.png", "room/frame-000001.depth.png"]
    out = tmp_path / "eval"
    assert main(["evaluate", str(tiny_experiment / "bundle.safetensors"), "--experiments", "real", "--frames", str(frames),
                 "--labels", str(labels), "--res", "32", "-o", str(out)]) == 0
    rows = {r["frame"]: r for r in csv.DictReader(open(out / "real.csv"))}
    assert not any(r["crash"] for r in rows.values()) and all(r["rejected"] == "0" for r in rows.values())
    first, empty = rows["room/frame-000000.depth.png"], rows["room/frame-000001.depth.png"]
    assert int(first["found"]) == 1 and float(first["seconds"]) > 0
    # the room's other objects (the renderer's clutter) are fitted too, and count as false chairs
    assert int(first["false_chairs"]) == int(first["objects"]) - 1
    assert int(empty["found"]) == 0 and int(empty["false_chairs"]) == int(empty["objects"])  # all of them false
    chair = next(csv.DictReader(open(out / "real_chairs.csv")))
    assert float(chair["best_iou"]) > 0.4 and int(chair["observed_points"]) > 100
    summary = json.loads((out / "real_summary.json").read_text())
    assert summary["frames"] == 2 and summary["crashes"] == 0
    assert "crashes (target 0)" in (out / "real.md").read_text()
    assert (out / "meshes" / "room" / "frame-000000_chair0.ply").is_file()  # the found chair's fit, to look at
    assert (out / "pictures" / "room" / "frame-000001.png").stat().st_size > 1000  # every frame's fits over its depth
    from core.evaluation.bench import bench_real  # bench scenes' real-frame row: the same chair, timed
    from core.model.bundle import load_bundle

    lines = []
    timed = bench_real(load_bundle(tiny_experiment / "bundle.safetensors"), frames, labels, count=1, res=32, echo=lines.append)
    assert [r["frame"] for r in timed] == ["room/frame-000000.depth.png"] and "median" in lines[-1]
    assert 0 < timed[0]["segment_s"] < timed[0]["object_s"] and 0.2 < timed[0]["lm_share"] < 1
    import core.evaluation.real_frames as R  # a second run resumes: every frame is done, none is fitted again
    monkeypatch.setattr(R, "frame_rows", lambda *a, **k: pytest.fail("a frame already done was fitted again"))
    first_table = (out / "real.csv").read_text()
    assert main(["evaluate", str(tiny_experiment / "bundle.safetensors"), "--experiments", "real", "--frames", str(frames),
                 "--labels", str(labels), "--res", "32", "-o", str(out)]) == 0
    assert (out / "real.csv").read_text() == first_table


def test_frames_folder_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="sensor.json"):
        find_frames(tmp_path)
    (tmp_path / "cam").mkdir()
    (tmp_path / "cam" / "sensor.json").write_text('{"depth": {"files": "*.png"}}')
    with pytest.raises(DataError, match="cam/sensor.json.*intrinsics"):
        find_frames(tmp_path)


def test_a_single_frame_takes_its_folders_sensor_json(tmp_path):
    """``complete FRAME`` and the app open a raw frame from a sensor folder without being told the camera:
    the intrinsics, units and raw format of the sensor.json whose pattern names it, from a sub-folder too."""
    camera = Camera(500.0, 501.0, 30.0, 20.0, 64, 48)
    depth = np.full((48, 64), 1.5, np.float32)
    folder = _sensor_folder(tmp_path, "tum", [], camera, per_metre=5000)
    write_depth_png(depth, folder / "frame-000000.depth.png", depth_scale=5000)
    mm = (depth * 1000).astype(np.uint16)
    (folder / "raw").mkdir()
    write_depth_png(((mm << 3) | (mm >> 13)).astype(np.float32) / 1000, folder / "raw" / "0.png")  # SUN3D's bit rotation
    spec = json.loads((folder / "sensor.json").read_text())
    spec["depth"]["converted"] = {"files": "raw/*.png", "format": "sun3d-bitrotated-png16: mm = (d >> 3) | (d << 13)",
                                  "per_metre": 1000}
    (folder / "sensor.json").write_text(json.dumps(spec))
    for name in ("frame-000000.depth.png", "raw/0.png"):
        scan = load_scan(folder / name)
        assert (scan.camera.fx, scan.camera.cy) == (500.0, 20.0)
        assert np.allclose(scan.depth, 1.5), name
    assert [(f.key, f.per_metre, f.depth_format) for f in find_frames(tmp_path)] == [
        ("tum/frame-000000.depth.png", 5000, None), ("tum/raw/0.png", 1000, "sun3d")]
    (folder / "sensor.json").write_text('{"intrinsics": {"fx": 1}}')
    with pytest.raises(DataError, match="tum/sensor.json.*intrinsics"):
        load_scan(folder / "frame-000000.depth.png")
    (folder / "sensor.json").unlink()
    with pytest.raises(DataError, match="no intrinsics"):
        load_scan(folder / "frame-000000.depth.png")


def test_box_overlap_and_free_space_violation():
    assert iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert iou(None, [0, 0, 1, 1]) == 0.0
    cam = Camera(100.0, 100.0, 50.0, 50.0, 100, 100)
    wall = back_project(np.full((100, 100), 2.0, np.float32), cam)[0]  # a wall 2 m away
    behind = np.column_stack([np.zeros(10), np.zeros(10), np.full(10, 2.01)])
    in_front = behind - [0, 0, 0.5]  # 50 cm in front of the wall the sensor saw: seen-through space
    assert seen_through(behind, wall, cam) == 0.0 and seen_through(in_front, wall, cam) == 1.0


def test_held_out_views_score_what_the_fitting_frame_never_saw(tmp_path):
    """The held-out-view check on a rendered sweep with its poses: the true chair placed from frame 0 explains
    what frame 0 never saw in the other frames; a frame whose chair was not found covers nothing."""
    from core.evaluation.real_frames import held_out_views
    from core.evaluation.real_frames import chair_mesh
    from core.mesh.meshing import SurfaceMesh, export_mesh
    from core.scans.scene import render_sweep, save_sweep

    chair = make_shape("chairs", 7)
    sweep = render_sweep([chair], ["chairs_00007"], seed=3, camera=sensor_camera(320, 240), views=3)
    folder = save_sweep(sweep, tmp_path / "frames" / "sweep")
    spec = json.loads((folder / "sensor.json").read_text())
    spec["depth"]["files"] = "frame-*.depth.png"
    (folder / "sensor.json").write_text(json.dumps(spec))
    labels = {}
    for k, r in enumerate(sweep):
        rows, cols = np.nonzero(r.labels == r.objects[0].label)
        labels[f"sweep/frame-{k:06d}.depth.png"] = {"chairs": [{"box": [int(cols.min()), int(rows.min()), int(cols.max()) + 1,
                                                                        int(rows.max()) + 1], "in_view_half": True}]}
    to_world = sweep[0].camera_to_world @ sweep[0].objects[0].model_to_camera
    scale = np.cbrt(abs(np.linalg.det(to_world[:3, :3])))
    box = {"centre": to_world[:3, 3].tolist(), "axes": (to_world[:3, :3] / scale).T.tolist(), "half_extents": [scale] * 3}
    meshes = tmp_path / "meshes"
    placed = SurfaceMesh(np.asarray(chair.vertices, np.float32), np.asarray(chair.faces)).moved(sweep[0].objects[0].model_to_camera)
    export_mesh(placed, chair_mesh(meshes, "sweep/frame-000000.depth.png", 0))
    pairs = held_out_views(find_frames(tmp_path / "frames"), labels, {"sweep": [box]}, meshes)
    from_first = [p for p in pairs if p["fitted_in"] == "frame-000000"]
    assert from_first and all(p["unseen_points"] >= 50 for p in pairs)
    assert min(p["held_out_view_coverage"] for p in from_first) > 0.8  # the true shape explains the unseen side
    assert [p["held_out_view_coverage"] for p in pairs if p["fitted_in"] != "frame-000000"] == [0.0] * (len(pairs) - len(from_first))


def test_tables_leave_unmeasured_cells_out_of_mean_and_median(tmp_path):
    """A frame without labels has no false-chair count (None): the totals are over the frames that have one."""
    from core.evaluation.tables import write_table

    text = write_table([{"frame": "a", "false_chairs": 1}, {"frame": "b", "false_chairs": None}, {"frame": "c", "false_chairs": 3}],
                       tmp_path / "t", "T").read_text()
    assert "| **mean** | 2.0000 |" in text and "| **median** | 2.0000 |" in text


def test_observed_points_are_scored_against_the_surface_and_their_world_box(tmp_path):
    """A chair's observed points: on the fitted surface they all count as explained, however large the mesh
    (samples of it would leave gaps); a second labels file adds chairs and world boxes to the first, and a box
    that names its chair filters that chair's points only."""
    from core.evaluation.real_frames import boxed_chair_points, in_view, observed_within, read_labels
    from core.mesh.meshing import SurfaceMesh
    from core.scans.segment import Segment, Segmentation

    square = SurfaceMesh(np.array([[0, 0, 2], [2, 0, 2], [2, 2, 2], [0, 2, 2]], np.float32), np.array([[0, 1, 2], [0, 2, 3]]))
    on = np.column_stack([np.random.default_rng(0).uniform(0, 2, (2000, 2)), np.full(2000, 2.0)])
    assert observed_within(on, square) == 1.0 and observed_within(on + [0, 0, 0.05], square) == 0.0
    assert observed_within(on[:0], square) == 0.0

    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps({"frames": {"f/1.png": {"chairs": [{"box": [0, 0, 4, 4]}]}, "f/2.png": {"chairs": []}}}))
    box = {"centre": [0, 0, 2], "axes": np.eye(3).tolist(), "half_extents": [0.5, 0.5, 0.5], "chair": 1}
    second.write_text(json.dumps({"frames": {"f/1.png": {"chairs": [{"box": [0, 0, 4, 4]}]}}, "world_boxes": {"f": [box]}}))
    frames, world_boxes = read_labels([first, second])
    assert len(frames["f/1.png"]["chairs"]) == 2 and frames["f/2.png"]["chairs"] == [] and world_boxes == {"f": [box]}
    assert read_labels(first)[1] == {}
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DataError, match="bad.json"):
        read_labels([first, tmp_path / "bad.json"])

    u, v = np.meshgrid(np.arange(4), np.arange(4))
    pts = np.dstack([(u - 1.5) * 0.4, (v - 1.5) * 0.4, np.full((4, 4), 2.0)])  # 1.2 m across: the box keeps the middle
    seg = Segmentation(np.ones((4, 4), int), pts, None, [], [Segment(1, 16, pts.reshape(-1, 3).mean(0), False)])
    chair = frames["f/1.png"]["chairs"][0]
    assert len(boxed_chair_points(seg, chair, np.eye(4), world_boxes["f"], 0)) == 16  # not chair 1's box
    assert len(boxed_chair_points(seg, chair, np.eye(4), world_boxes["f"], 1)) == 4
    assert len(boxed_chair_points(seg, chair, None, world_boxes["f"], 1)) == 16  # no pose: the pixel box alone
    hidden = {"box": [0, 0, 4, 4], "in_view_half": False}  # the held-out-view and sequence checks score the others
    assert in_view({"chairs": [hidden, chair]}) == [(1, chair)] and in_view(None) == [] and in_view({"chairs": [hidden]}) == []
