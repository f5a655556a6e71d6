"""Pose-free completion of a sensor's scan: objects found, posed and shaped without being told the pose,
from the CLI; and the clear refusals (nothing standing, a cut object, no floor)."""
import json

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import trimesh

from core.model.bundle import open_model
from core.cli import main
from core.scans.completion import floor_of, pick_segments
from core.evaluation.experiments import _rotation_error
from core.fileio import DataError
from core.mesh.meshing import mesh_code
from core.scans.scene import render_scene
from core.scans.scan import back_project, Camera, load_scan, save_scan, Scan, sim3_scale
from core.scans.segment import Plane, Segment, Segmentation, segment_scan
from core.data.shapes import make_shape, named_shape
from tests.conftest import PORTRAIT, portrait


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A 320x240 sensor scene of two training chairs of the default model (and a box), intrinsics only."""
    root = tmp_path_factory.mktemp("scene")
    names = open_model("default").latents.names[3:5]
    paths = []
    for name in names:
        paths.append(root / f"{name}.ply")
        named_shape(name).export(paths[-1])
    out = root / "scene.png"
    assert main(["render-depth", *map(str, paths), "--scene", "--res", "320x240", "--seed", "4", "-o", str(out)]) == 0
    return out


def _truth(scene_png):
    meta = json.loads(scene_png.with_suffix(".json").read_text())["ground_truth"]
    labels = iio.imread(scene_png.with_name(meta["labels"]))
    return meta["objects"], labels


@pytest.fixture(scope="module")
def all_objects(scene, tiny_experiment, tmp_path_factory):
    """``complete --all-objects`` on the scene with the tiny model (what is checked is where things are
    written and in which frame; the default model's accuracy is ``evaluate --experiments scenes``' to
    measure), run once for the tests that read what it wrote."""
    out = tmp_path_factory.mktemp("all") / "out.ply"
    model = tiny_experiment / "bundle.safetensors"
    assert main(["complete", str(model), str(scene), "-o", str(out), "--all-objects", "--res", "64"]) == 0
    return out, open_model(model)


def test_all_objects_written_in_the_camera_frame_with_poses(scene, all_objects):
    (out, bundle), tmp_path = all_objects, all_objects[0].parent
    meta = json.loads(out.with_suffix(".json").read_text())
    objects, labels = _truth(scene)
    decoder = bundle.decoder
    for truth in objects:
        gt = np.asarray(truth["model_to_camera"])
        pixel_u, pixel_v = np.argwhere(labels == truth["label"]).mean(0)[::-1]
        # the fitted object nearest the true one: its pose and its mesh, in the camera frame, in metres
        fitted = min(meta["objects"], key=lambda o: np.linalg.norm(np.asarray(o["model_to_camera"])[:3, 3] - gt[:3, 3]))
        M = np.asarray(fitted["model_to_camera"])
        # the tiny model (4 chairs, 8-d codes) places them within ~9 cm and 5 %, its shapes ~6 cm off
        # (median); a mesh in another frame or unit would be metres off
        assert np.linalg.norm(M[:3, 3] - gt[:3, 3]) < 0.15
        assert abs(fitted["scale"] / sim3_scale(gt) - 1) < 0.15
        assert fitted["nearest_training_shape"] in bundle.latents.names and len(fitted["code"]) == bundle.arch.latent_size
        assert 0.0 <= fitted["hidden_outline"] <= 1.0
        mesh = trimesh.load(tmp_path / fitted["mesh"])
        chair = named_shape(truth["name"])
        placed = chair.copy().apply_transform(gt)
        d = np.abs(trimesh.proximity.signed_distance(placed, mesh.sample(2000, seed=0)))
        assert np.median(d) < 0.1, (truth["name"], np.median(d))  # metres
        # the pose is the object's own normalised frame, as the ground truth's: its mesh centred in the unit sphere
        canonical = mesh.copy().apply_transform(np.linalg.inv(M)).vertices
        assert np.abs(canonical.min(0) + canonical.max(0)).max() < 1e-3
        assert abs(1.03 * np.linalg.norm(canonical, axis=1).max() - 1) < 1e-3
        # and the code, decoded, lands on the exported mesh through decoder_to_camera
        decoded = mesh_code(decoder, torch.tensor(fitted["code"]), 64)
        placed = decoded.moved(np.asarray(fitted["decoder_to_camera"])).vertices
        assert np.abs(np.sort(placed, 0) - np.sort(mesh.vertices, 0)).max() < 1e-4
    assert len(list(tmp_path.glob("out_*.ply"))) == len(meta["objects"]) >= 2


def test_object_under_a_pixel_of_a_raw_image_from_a_camera_rolled_a_quarter_turn(scene, tiny_experiment, tmp_path, capsys):
    """The scene turned into portrait (the image rotated 90 degrees, the intrinsics with it), as a raw image
    (no sidecar) with the intrinsics given on the command line: the floor lies beside the camera, not below
    it; found there, the chair under the pixel comes out posed as in the camera's turned frame."""
    model = str(tiny_experiment / "bundle.safetensors")  # the frames are checked, not the model's accuracy
    upright = load_scan(scene)
    R = np.eye(4)
    R[:3, :3] = PORTRAIT
    turned = portrait(upright)
    raw = tmp_path / "raw.png"
    save_scan(turned, raw).with_suffix(".json").unlink()
    objects, labels = _truth(scene)
    turned_labels = np.rot90(labels)
    v, u = np.argwhere(turned_labels == objects[0]["label"])[len(np.argwhere(turned_labels == objects[0]["label"])) // 2]
    out = tmp_path / "one.ply"
    assert main(["complete", model, str(raw), "-o", str(out), "--object", f"{u},{v}"]) == 1
    assert "raw.png: no intrinsics" in capsys.readouterr().err and not out.exists()
    cam = turned.camera
    intrinsics = f"{cam.fx},{cam.fy},{cam.cx},{cam.cy}"
    floor_v, floor_u = turned_labels.shape[0] - 3, turned_labels.shape[1] - 2  # the bottom-left corner turned: floor
    assert turned_labels[floor_v, floor_u] == 0
    assert main(["complete", model, str(raw), "--intrinsics", intrinsics, "-o", str(tmp_path / "no.ply"),
                 "--object", f"{floor_u},{floor_v}"]) == 1
    assert "not on an object" in capsys.readouterr().err and not (tmp_path / "no.ply").exists()

    assert main(["complete", model, str(raw), "--intrinsics", intrinsics, "-o", str(out), "--object", f"{u},{v}",
                 "--res", "48"]) == 0
    assert "raw.png: the floor found is not below the camera: the camera is taken as looking down steeply, rolled" in capsys.readouterr().out
    meta = json.loads(out.with_suffix(".json").read_text())
    assert out.is_file() and len(meta["objects"]) == 1
    floor = segment_scan(upright.depth, upright.camera, source="upright").floor
    assert np.degrees(np.arccos(np.dot(meta["floor"]["normal"], R[:3, :3] @ floor.normal))) < 2
    assert abs(meta["floor"]["offset"] - floor.offset) < 0.02
    gt = R @ np.asarray(objects[0]["model_to_camera"])
    M = np.asarray(meta["objects"][0]["model_to_camera"])
    assert np.linalg.norm(gt[:3, 3] - PORTRAIT.T @ gt[:3, 3]) > 0.4  # where the turn ignored would put it: far off
    assert np.linalg.norm(M[:3, 3] - gt[:3, 3]) < 0.25  # the tiny model's own error: 9-21 cm, as its fit's rows vary
    assert _rotation_error(M, gt) < 20


def test_the_scans_sidecar_is_never_overwritten(scene, tmp_path, capsys):
    """``complete room.png -o room.ply`` would write its JSON over room.json, the scan's intrinsics: refused
    before fitting, as are a mesh format it cannot write and a place no folder can be made (a missing
    folder is made, as by every writer)."""
    sidecar = scene.read_bytes(), scene.with_suffix(".json").read_bytes()
    assert main(["complete", "default", str(scene), "-o", str(scene.with_suffix(".ply"))]) == 1
    assert "would overwrite the scan's sidecar" in capsys.readouterr().err
    assert (scene.read_bytes(), scene.with_suffix(".json").read_bytes()) == sidecar
    assert not scene.with_suffix(".ply").exists()
    (tmp_path / "file.txt").write_text("")
    for out, says in ((tmp_path / "x.png", "unsupported mesh format"),
                      (tmp_path / "file.txt" / "x.ply", "file.txt is not a writable folder")):
        assert main(["complete", "default", str(scene), "-o", str(out)]) == 1
        assert says in capsys.readouterr().err


def test_nothing_standing_is_said_and_empty_depth_refused(tmp_path, capsys):
    camera = Camera(262.5, 262.5, 159.5, 119.5, 320, 240)
    v, u = np.mgrid[0:240, 0:320].astype(float)
    ray_y = (v - camera.cy) / camera.fy + 0.35  # a camera 1.5 m above a floor, tilted down
    depth = np.where(ray_y > 0.05, 1.5 / np.maximum(ray_y, 1e-6), np.nan).astype(np.float32)
    depth[depth > 8] = np.nan
    save_scan(Scan(depth, camera, None), tmp_path / "floor.png")
    out = tmp_path / "x.ply"
    assert main(["complete", "default", str(tmp_path / "floor.png"), "-o", str(out)]) == 0  # nothing to fit: said
    said = capsys.readouterr().out
    assert "floor.png: nothing to fit: no object remains" in said and not out.exists()
    assert json.loads(out.with_suffix(".json").read_text())["objects"] == []
    iio.imwrite(tmp_path / "empty.png", np.zeros((240, 320), np.uint16))
    (tmp_path / "empty.json").write_text((tmp_path / "floor.json").read_text())
    assert main(["complete", "default", str(tmp_path / "empty.png"), "-o", str(out)]) == 1
    assert "empty.png: the depth image has no valid pixels" in capsys.readouterr().err


def test_objects_cut_by_the_border_are_named_and_fitted_only_when_picked(monkeypatch):
    import core.scans.completion as C

    monkeypatch.setattr(C, "TOO_SMALL", 0.0)  # these segments have no points (their size is tested apart)
    labels = np.zeros((20, 30), int)
    labels[0:15, 0:14] = 1  # touches the left border; it would stand out more than object 2
    labels[12:18, 10:20] = 2
    seg = Segmentation(labels, np.zeros((20, 30, 3)), None, [], [Segment(1, 150, np.zeros(3), True, cut=0.5), Segment(2, 60, np.zeros(3), False)])  # cut along 0.5 m
    said = []
    assert [s.label for s in pick_segments(seg, "prominent", said.append)] == [2]
    assert "object 1" in said[0] and "cut by the image border" in said[0]
    assert [s.label for s in pick_segments(seg, [(2, 7)], said.append)] == [1]
    assert "less certain" in said[-1]
    only_cut = Segmentation(labels, np.zeros((20, 30, 3)), None, [], seg.segments[:1])
    assert pick_segments(only_cut, "all", said.append) == []
    assert "nothing to fit" in said[-1] and "pick one by its pixel" in said[-1]
    with pytest.raises(DataError, match=r"pixel \(40, 2\) lies outside the 30x20 image"):
        pick_segments(seg, [(40, 2)], said.append)


def test_prominent_is_the_object_the_sensor_is_aimed_at_not_a_larger_one_beside_it(monkeypatch):
    import core.scans.completion as C

    monkeypatch.setattr(C, "TOO_SMALL", 0.0)  # these segments have no points (their size is tested apart)
    labels = np.zeros((100, 160), int)
    labels[5:60, 2:60] = 1  # the largest, near the corner (a box beside the chair)
    labels[30:80, 65:100] = 2  # smaller, in the middle
    segments = [Segment(1, int((labels == 1).sum()), np.zeros(3), False), Segment(2, int((labels == 2).sum()), np.zeros(3), False)]
    seg = Segmentation(labels, np.zeros((100, 160, 3)), None, [], segments)
    assert segments[0].pixels > 1.5 * segments[1].pixels
    assert [s.label for s in pick_segments(seg, "prominent")] == [2]
    labels[30:80, 65:100] = 0
    labels[45:50, 78:83] = 2  # a speck in the middle does not outweigh a whole object
    segments[1].pixels = 25
    assert [s.label for s in pick_segments(seg, "prominent")] == [1]


def test_default_object_of_a_room_scan_is_a_chair_not_the_box(scene):
    """The object ``complete`` fits by default (``pick_segments``' "prominent") is one of the chairs."""
    scan = load_scan(scene)
    seg = segment_scan(scan.depth, scan.camera)
    objects, labels = _truth(scene)
    [picked] = pick_segments(seg, "prominent")
    chairs = {o["label"] for o in objects}
    mine = labels[seg.labels == picked.label]
    assert np.isin(mine, list(chairs)).mean() > 0.8


def test_an_object_behind_another_is_called_partly_hidden():
    """Beside a nearer object, a farther one's outline is hidden; beside the wall behind, it is not."""
    from core.scans.segment import hidden_share

    camera = Camera(262.5, 262.5, 159.5, 119.5, 320, 240)
    depth = np.full((240, 320), 3.5, np.float32)  # a wall
    depth[60:180, 100:200] = 2.5  # the far object ...
    depth[40:200, 170:260] = 1.8  # ... behind the near one, which covers its right side
    pts = back_project(depth, camera)[0]
    far = np.zeros(depth.shape, bool)
    far[60:180, 100:170] = True
    near = np.zeros(depth.shape, bool)
    near[40:200, 170:260] = True
    assert 0.25 < hidden_share(pts, far) < 0.45  # its right edge, of four
    assert hidden_share(pts, near) == 0.0
    labels = far * 1 + near * 2
    seg = Segmentation(labels, pts, None, [], [Segment(1, int(far.sum()), np.zeros(3), False, hidden_share(pts, far)),
                                               Segment(2, int(near.sum()), np.zeros(3), False, 0.0)])
    said = []
    assert [s.label for s in pick_segments(seg, "all", said.append)] == [1, 2]
    assert len(said) == 1 and "object 1" in said[0] and "partly hidden" in said[0]


def test_without_a_floor_gravity_is_the_cameras_down():
    seg = Segmentation(np.zeros((2, 2), int), np.zeros((2, 2, 3)), None)
    said = []
    up, offset = floor_of(seg, np.array([[0.0, 0.4, 2.0], [0.0, -0.3, 2.0]]), said.append)
    assert np.allclose(up, [0, -1, 0]) and np.isclose(offset, 0.4) and "no floor found" in said[0]
    floor = Plane(np.array([0.0, -1.0, 0.0]), 1.2, 100)
    seg.floor = floor
    assert floor_of(seg, np.zeros((1, 3)))[1] == 1.2


def test_posed_scan_of_a_room_fits_the_object_at_the_pose(scene, tmp_path):
    """With a pose in the sidecar, the pixels fitted are the segment at the pose (not the floor, the wall or
    the other chair); one free-space row per observed point, in front of it (what the camera saw around
    the object tells a pose, not a shape: ``completion_samples``)."""
    from core.scans.completion import completion_samples, object_mask

    objects, labels = _truth(scene)
    truth = objects[0]
    meta = json.loads(scene.with_suffix(".json").read_text())
    meta["camera_to_model"] = np.linalg.inv(np.asarray(truth["model_to_camera"])).tolist()
    posed = tmp_path / "posed.png"
    posed.write_bytes(scene.read_bytes())
    posed.with_suffix(".json").write_text(json.dumps(meta))
    scan = load_scan(posed)
    mask, chair = object_mask(scan), labels == truth["label"]
    assert (mask & chair).sum() > 0.8 * (mask | chair).sum()
    data = completion_samples(scan)
    assert data.free.sum() == data.free.logical_not().sum() // 2 > 1000

    out = tmp_path / "chair.ply"
    assert main(["complete", "default", str(posed), "-o", str(out), "--res", "64"]) == 0
    fitted = trimesh.load(out)  # the model's frame
    chair = named_shape(truth["name"])
    d = np.abs(trimesh.proximity.signed_distance(chair, fitted.sample(2000, seed=0)))
    assert np.median(d) < 0.03  # a 64^3 mesh from a noisy 320x240 view
    assert (np.ptp(fitted.vertices, axis=0) < 1.15 * np.ptp(chair.vertices, axis=0) + 0.05).all()  # no floor slab

    # the judge of the two stages (``outline_judge``): the chair's own training code at its pose hardly
    # sticks out of its outline; moved 15 cm sideways, it covers the wall or floor beside it
    from core.scans.completion import outline_judge
    bundle = open_model("default")
    code = bundle.latents.codes[bundle.latents.names.index(truth["name"])]
    to_camera = np.asarray(truth["model_to_camera"])
    points, noise = back_project(scan.depth, scan.camera)[0], data.noise * sim3_scale(to_camera)
    moved = to_camera.copy()
    moved[:3, 3] += 0.15 * to_camera[:3, 0] / np.linalg.norm(to_camera[:3, 0])
    seen = labels == truth["label"]
    at_pose = outline_judge(bundle.decoder, points, seen, to_camera, noise)(code)
    assert at_pose < 0.1 and outline_judge(bundle.decoder, points, seen, moved, noise)(code) > at_pose + 0.2

    meta["camera_to_model"][0][3] += 20.0  # the pose looks at empty space
    posed.with_suffix(".json").write_text(json.dumps(meta))
    assert main(["complete", "default", str(posed), "-o", str(tmp_path / "none.ply")]) == 1
    assert not (tmp_path / "none.ply").exists()


def test_the_shape_is_fitted_again_at_the_pose_it_led_to_and_last_in_its_own_frame(tiny_experiment, monkeypatch):
    """The order of ``fit_segment``'s shape fits, checked on the tiny model (the rule, not one scene's
    outcome): the second shape fit runs at the pose the first one led to (its scale set by the observed
    height: a shape fitted at the search's pose stretches to fill it), the third in the object's own
    normalised frame (``object_pose`` of the mesh found: the decoder's frame drifts with the code), and the
    object's pose is that frame. The scene sets' numbers for both are in ``evaluate --experiments scenes``."""
    import core.scans.completion as C
    from core.model.bundle import load_bundle

    bundle = load_bundle(tiny_experiment / "bundle.safetensors")
    render = render_scene([make_shape("chairs", 7)], ["chairs_00007"], seed=3)
    seg = segment_scan(render.depth, render.camera, seed=3)
    segment = max(seg.segments, key=lambda s: ((render.labels == 1) & (seg.labels == s.label)).sum())
    _, normals, _ = back_project(render.depth, render.camera)
    shape_fits, stages, meshes = [], [], []
    for name, log in (("posed_samples", shape_fits), ("stand", stages), ("mesh_code", meshes)):
        real = getattr(C, name)
        monkeypatch.setattr(C, name, lambda *a, real=real, log=log, **k: log.append((a, k, real(*a, **k))) or log[-1][2])
    found = C.fit_segment(bundle, seg, segment, normals, 32, warn=lambda m: None)
    meshes = [(a, m) for a, k, m in meshes if "cancelled" in k]  # fit_segment's output, not its working meshes (memo_mesher)
    shape_fits, stages = [(a, r) for a, _, r in shape_fits], [(a, r) for a, _, r in stages]
    poses = [np.linalg.inv(args[3]) for args, _ in shape_fits]  # each shape fit's model-to-camera
    assert len(poses) == 3
    led_to = stages[0][1] or stages[0][0][1]  # the first stage's fit, stood on the floor when it could be
    assert np.allclose(poses[1], led_to.model_to_camera)
    second = stages[1][1] or stages[1][0][1]
    frame = mesh_code(bundle.decoder, second.code, C.FRAME_RES)  # the working mesh the third fit's frame came from
    assert np.allclose(poses[2], C.object_pose(frame, second.model_to_camera))
    assert np.allclose(found.pose, C.object_pose(meshes[0][1], found.fit.model_to_camera))


def test_depth_in_the_wrong_units_is_doubted(scene, tmp_path, capsys):
    """Off by 1000 a scan is refused (its median depth); off by 5 or 10 it still segments, so the camera's
    height above the floor (or, too small to hold a floor, its depth) tells."""
    scan = load_scan(scene)
    assert segment_scan(scan.depth, scan.camera).units_doubt() is None
    for factor, says in ((5, "m above the floor found"), (0.1, "no floor found")):
        doubt = segment_scan(scan.depth * factor, scan.camera, source="x.png").units_doubt()
        assert doubt.startswith("x.png: ") and says in doubt and "depth_scale" in doubt, doubt
    # and the CLI says so (a TUM scan's depth_scale of 5000 taken as 1000)
    tum = save_scan(Scan(scan.depth * 5, scan.camera, None), tmp_path / "tum.png")
    floor = f"3,{scan.depth.shape[0] - 2}"  # said before any object is picked or fitted (here: none, the floor)
    assert main(["complete", "default", str(tum), "-o", str(tmp_path / "out.ply"), "--object", floor]) == 1
    assert "are the depth's units right?" in capsys.readouterr().out
