import dataclasses
import json

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
import torch
import trimesh

from core.cli import main
from core.scans.completion import completion_samples
from core.fileio import DataError
from core.scans.scan import (Camera, Scan, add_noise, drop_flying_pixels, load_depth, load_scan, look_at_pose,
                       render_depth, save_scan, smooth_surface)


@pytest.fixture(scope="module")
def sphere_scan():
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.5)
    camera = Camera.from_fov(160, 120, 50)
    pose = look_at_pose(40, 25, 2.0)
    return Scan(render_depth(sphere, camera, pose), camera, pose, "sphere")


def test_render_depth_takes_a_similarity_pose(sphere_scan):
    """A camera_to_model with a scale (model units per camera unit, as a scene's Sim(3) poses are) gives
    depth in the camera's units: the same view, every depth divided by the scale."""
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.5)
    scaled = sphere_scan.camera_to_model.copy()
    scaled[:3, :3] *= 2.5
    depth = render_depth(sphere, sphere_scan.camera, scaled)
    np.testing.assert_allclose(depth, sphere_scan.depth / 2.5, rtol=1e-5)


def test_back_projection_of_rendered_sphere_lies_on_it(sphere_scan, tmp_path):
    path = save_scan(sphere_scan, tmp_path / "s.png")
    scan = load_scan(path)  # through the 16-bit PNG and the sidecar
    points, normals = scan.points()
    assert len(points) > 3000
    r = np.linalg.norm(points, axis=1)
    assert np.abs(r - 0.5).max() < 0.004  # millimetre quantisation + facets
    radial = points / r[:, None]
    assert np.median(np.sum(normals * radial, 1)) > 0.99
    to_camera = scan.camera_centre() - points
    assert (np.sum(normals * to_camera, 1) > 0).all()  # normals face the camera


def test_png16_scales_and_missing_pixels(tmp_path):
    raw = np.array([[0, 1000], [5000, 65535]], np.uint16)
    iio.imwrite(tmp_path / "d.png", raw)
    d = load_depth(tmp_path / "d.png")
    assert np.isnan(d[0, 0]) and d[0, 1] == 1.0 and d[1, 0] == 5.0
    assert np.isnan(d[1, 1])  # 65535: no return, as some sensors mark it
    assert load_depth(tmp_path / "d.png", depth_scale=5000)[1, 0] == 1.0  # TUM


def test_float_formats(tmp_path):
    depth = np.array([[0.5, np.nan], [-1.0, 2.0]], np.float32)
    tifffile.imwrite(tmp_path / "d.tiff", depth)
    np.save(tmp_path / "d.npy", depth)
    np.savez(tmp_path / "d.npz", depth=depth)
    import OpenEXR

    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"Z": depth}) as fh:
        fh.write(str(tmp_path / "d.exr"))
    for name in ("d.tiff", "d.npy", "d.npz", "d.exr"):
        d = load_depth(tmp_path / name)
        assert d[0, 0] == 0.5 and d[1, 1] == 2.0 and np.isnan(d[0, 1]) and np.isnan(d[1, 0])
    with OpenEXR.File(header, {"R": depth, "G": depth}) as fh:  # two colour channels, no depth: which one?
        fh.write(str(tmp_path / "rg.exr"))
    assert load_depth(tmp_path / "rg.exr")[1, 1] == 2.0  # R is taken, as single-channel exporters write it
    with OpenEXR.File(header, {"A": depth, "B": depth}) as fh:
        fh.write(str(tmp_path / "ab.exr"))
    with pytest.raises(DataError, match="ab.exr: no depth channel"):
        load_depth(tmp_path / "ab.exr")


def test_intrinsics_formats(tmp_path):
    o3d = {"width": 640, "height": 480, "intrinsic_matrix": [525.0, 0, 0, 0, 520.0, 0, 319.5, 239.5, 1]}
    cam = Camera.parse(o3d)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (525.0, 520.0, 319.5, 239.5)
    np.savetxt(tmp_path / "K.txt", [[500, 0, 100], [0, 501, 80], [0, 0, 1]])
    cam = Camera.parse("K.txt", tmp_path, size=(200, 160))
    assert (cam.fx, cam.fy, cam.cx, cam.width) == (500, 501, 100, 200)
    with pytest.raises(DataError, match="focal lengths"):
        Camera.parse({"fx": 0, "fy": 0, "cx": 1, "cy": 1, "width": 2, "height": 2})
    with pytest.raises(DataError, match="lack 'fy'"):
        Camera.parse({"fx": 1, "cx": 1, "cy": 1, "width": 2, "height": 2})
    # as typed on the command line (--intrinsics), and another scan's sidecar
    assert Camera.parse("525,520,319.5,239.5", size=(640, 480)) == Camera(525, 520, 319.5, 239.5, 640, 480)
    with pytest.raises(DataError, match="four numbers fx,fy,cx,cy"):
        Camera.parse("525,520,319.5", size=(640, 480))
    (tmp_path / "other.json").write_text(json.dumps({"intrinsics": "K.txt", "depth_scale": 1000}))
    assert Camera.parse(str(tmp_path / "other.json"), size=(200, 160)).fy == 501


def test_bad_scans_give_clear_errors(tmp_path):
    iio.imwrite(tmp_path / "zero.png", np.zeros((4, 4), np.uint16))
    with pytest.raises(DataError, match="zero.png: the depth image has no valid pixels"):
        load_depth(tmp_path / "zero.png")
    iio.imwrite(tmp_path / "rgb.png", np.ones((4, 4, 3), np.uint8))
    with pytest.raises(DataError, match="single-channel"):
        load_depth(tmp_path / "rgb.png")
    (tmp_path / "junk.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="junk.png: cannot read depth image: corrupt, truncated") as err:
        load_depth(tmp_path / "junk.png")
    assert "\n" not in str(err.value) and "pip install" not in str(err.value)  # not imageio's plugin advice
    iio.imwrite(tmp_path / "whole.png", np.full((64, 64), 1000, np.uint16))
    (tmp_path / "cut.png").write_bytes((tmp_path / "whole.png").read_bytes()[:60])
    with pytest.raises(DataError, match="cut.png: cannot read depth image: corrupt, truncated"):
        load_depth(tmp_path / "cut.png")
    iio.imwrite(tmp_path / "lonely.png", np.full((4, 4), 1000, np.uint16))
    with pytest.raises(DataError, match="no intrinsics .*lonely.json.*camera_to_model"):
        load_scan(tmp_path / "lonely.png")
    (tmp_path / "lonely.json").write_text(json.dumps({"intrinsics": {"fx": 5, "fy": 5, "cx": 2, "cy": 2}}))
    assert load_scan(tmp_path / "lonely.png").camera_to_model is None  # a sensor's scan: pose-free completion
    with pytest.raises(DataError, match="lonely.png: no camera pose"):
        completion_samples(load_scan(tmp_path / "lonely.png"))
    (tmp_path / "lonely.json").write_text(json.dumps({"intrinsics": {"fx": 5, "fy": 5, "cx": 2, "cy": 2, "width": 8, "height": 8},
                                                      "camera_to_model": np.eye(4).tolist()}))
    with pytest.raises(DataError, match="image is 4x4 but the intrinsics say 8x8"):
        load_scan(tmp_path / "lonely.png")
    with pytest.raises(FileNotFoundError, match="missing depth image"):
        load_depth(tmp_path / "nope.png")


def test_noise_is_seeded_and_both_kinds_work(sphere_scan):
    d = sphere_scan.depth
    a, b = add_noise(d, 0.01, "depth", seed=3), add_noise(d, 0.01, "depth", seed=3)
    assert np.array_equal(a, b, equal_nan=True)
    valid = np.isfinite(d)
    assert 0.008 < np.nanstd(a[valid] - d[valid]) < 0.012
    inv = add_noise(d, 0.01, "inverse", seed=3)
    assert np.nanstd(1 / inv[valid] - 1 / d[valid]) == pytest.approx(0.01, rel=0.2)
    with pytest.raises(ValueError, match="unknown noise kind"):
        add_noise(d, 0.01, "salt")


def test_completion_samples_follow_the_paper(sphere_scan):
    data = completion_samples(sphere_scan, eta=0.02, max_points=1000)
    n = 1000
    assert len(data.sdf) == 3 * n
    r = data.xyz.norm(dim=1).numpy()
    assert np.allclose(r[:n], 0.52, atol=0.01) and np.allclose(r[n:2 * n], 0.48, atol=0.01)
    assert data.free[2 * n:].all() and not data.free[:2 * n].any()
    assert (r[2 * n:] > 0.5).all()  # free space lies outside the sphere, in front of the surface


def test_samples_lie_off_a_noisy_surface_by_more_than_its_noise(sphere_scan):
    """eta is the paper's 0.02 for a clean scan; for a noisy one, twice its noise: within the noise a
    sample's side of the surface would be a guess."""
    import core.scans.scan as S
    clean = completion_samples(sphere_scan)
    noisy = completion_samples(dataclasses.replace(sphere_scan, depth=add_noise(sphere_scan.depth, 0.03, seed=1)))
    assert clean.sdf.abs().max().item() == pytest.approx(S.ETA)
    assert S.ETA_PER_NOISE * noisy.noise > S.ETA
    assert noisy.sdf.abs().max().item() == pytest.approx(S.ETA_PER_NOISE * noisy.noise, rel=1e-5)
    assert completion_samples(sphere_scan, eta=0.05).sdf.abs().max().item() == pytest.approx(0.05)  # as given


def test_a_noisy_scan_is_fitted_on_more_rows_held_more_firmly(tiny_experiment, sphere_scan, monkeypatch):
    import core.scans.completion as C
    from core.model.bundle import load_bundle
    tiny = load_bundle(tiny_experiment / "bundle.safetensors")
    clean = completion_samples(sphere_scan)
    noisy = completion_samples(dataclasses.replace(sphere_scan, depth=add_noise(sphere_scan.depth, 0.01, seed=1)))
    assert clean.noise < C.NOISY <= noisy.noise  # the scan's own noise, model units, carried by every subset
    assert noisy.subset(torch.arange(10)).noise == noisy.noise
    calls = []
    real = C.fit
    monkeypatch.setattr(C, "fit", lambda *a, **k: calls.append((k["samples"], k["prior"])) or real(*a, **k))
    for data in (clean, noisy):
        C.fit_scan(tiny.decoder, data, tiny.latents.codes)
    starts = C.SCAN_STARTS
    assert calls[:starts + 1] == [(C.SCAN_ROWS, C.SCAN_PRIORS[0])] * starts + [(C.SCAN_ROWS, C.SCAN_PRIORS[1])]
    assert calls[starts + 1:] == [(C.NOISY_ROWS, C.NOISY_PRIORS[0])] * starts + [(C.NOISY_ROWS, C.NOISY_PRIORS[1])]


def test_render_and_complete_cli(tiny_experiment, tmp_path):
    bundle = str(tiny_experiment / "bundle.safetensors")
    scan = tmp_path / "scan.png"
    assert main(["render-depth", bundle, "--index", "0", "--view", "20,15", "--res", "64x48", "-o", str(scan)]) == 0
    assert json.loads(scan.with_suffix(".json").read_text())["ground_truth"] == "chairs_00007"
    out = tmp_path / "done.ply"
    assert main(["complete", bundle, str(scan), "--noise", "0.005", "--res", "32", "-o", str(out),
                 "--code", str(tmp_path / "z.npy")]) == 0
    assert out.stat().st_size > 0 and np.load(tmp_path / "z.npy").shape == (8,)
    assert main(["complete", bundle, str(tmp_path / "missing.png"), "-o", str(out)]) == 1


def test_evaluate_runs_every_experiment(tiny_experiment, tiny_data, tmp_path):
    bundle = str(tiny_experiment / "bundle.safetensors")
    out = tmp_path / "eval"
    assert main(["evaluate", bundle, "--data", str(tiny_data), "--count", "1", "--res", "32", "-o", str(out)]) == 0
    for name in ("known_shapes", "unknown_shapes", "completion", "noise_sweep", "interpolation"):
        text = (out / f"{name}.md").read_text()
        assert "**mean**" in text and (out / f"{name}.csv").is_file()
    assert (out / "noise_sweep.png").stat().st_size > 1000 and (out / "interpolation.png").stat().st_size > 1000
    import csv
    rows = list(csv.DictReader(open(out / "completion.csv")))
    assert rows[0]["nearest_training"].startswith("chairs_") and float(rows[0]["chamfer"]) > 0
    known = list(csv.DictReader(open(out / "known_shapes.csv")))
    assert 0.0 < float(known[0]["normal_consistency"]) <= 1.0
    from core.model.bundle import load_bundle
    from core.mesh.meshing import mesh_code
    from core.evaluation.metrics import pieces

    model = load_bundle(bundle)
    pairs = list(csv.DictReader(open(out / "interpolation.csv")))
    assert len(pairs) == 1  # --count sets the interpolation's pairs too
    for row in pairs:  # the ends' pieces, beside the midpoint's
        assert int(row["pieces_a"]) == pieces(mesh_code(model.decoder, model.code(row["a"]), 32))


def test_interpolation_of_a_seating_model_adds_the_seed_pairs_across_kinds(tiny_experiment, tiny_data, tmp_path):
    """A model of several kinds: the seed's chair-to-one-seat-sofa pairs and chair-to-sofa pairs beside the random
    ones, their paths drawn in interpolation_kinds.png."""
    import csv
    from core.data.shapes import kinds
    from core.evaluation.experiments import Context, interpolation
    from core.model.bundle import load_bundle
    from core.model.decoder import LatentTable

    bundle = load_bundle(tiny_experiment / "bundle.safetensors")
    seeds = [14, 4, 0] + [i for i in range(1, 40) if i not in (4, 14)]  # a four-legged chair, an armchair, a sofa, ...
    names = [f"seating_{i:05d}" for i in seeds[:len(bundle.latents)]]  # its codes under seating names
    bundle.latents = LatentTable(bundle.latents.codes, names)
    by_kind = kinds(names)
    interpolation(Context(bundle, tiny_data, tmp_path, res=32, count=1), shown=1)
    rows = list(csv.DictReader(open(tmp_path / "interpolation.csv")))
    crossed = [(r["pair"], r["a"], r["b"]) for r in rows if r["pair"] != "random"]
    expected = [(f"{a} - {b}", by_kind[a][0], by_kind[b][0]) for a, b in (("four-legged chair", "armchair"),
                                                                          ("four-legged chair", "sofa"))
                if a in by_kind and b in by_kind]
    assert expected and crossed == expected and len(rows) == 1 + len(expected)
    assert (tmp_path / "interpolation_kinds.png").stat().st_size > 1000


def test_nearest_training_shape_is_one_the_model_was_trained_on(tiny_experiment, tiny_data, tmp_path):
    """A data folder may hold more training shapes than the model (a larger run's): they are not "training"."""
    from core.model.bundle import load_bundle
    from core.evaluation.experiments import Context, TrainingShapes

    data = tmp_path / "data"
    data.mkdir()
    for sub in ("SdfSamples", "SurfaceSamples", "NormalizationParameters"):
        (data / sub).symlink_to(tiny_data / sub)
    splits = data / "splits"
    splits.mkdir()
    test = json.loads((tiny_data / "splits" / "chairs_test.json").read_text())
    train = json.loads((tiny_data / "splits" / "chairs_train.json").read_text())
    train["synthetic"]["chairs"] += test["synthetic"]["chairs"]  # a shape the model has no code for
    (splits / "chairs_train.json").write_text(json.dumps(train))
    bundle = load_bundle(tiny_experiment / "bundle.safetensors")
    shapes = TrainingShapes(Context(bundle, data, tmp_path / "out"))
    assert sorted(shapes.names) == sorted(bundle.latents.names)
    assert shapes.nearest(shapes.points[0])[0] == shapes.names[0]


def test_evaluate_scenes_tables_pose_free_beside_posed(tiny_experiment, tiny_data, tmp_path):
    import csv

    out = tmp_path / "eval"
    assert main(["evaluate", str(tiny_experiment / "bundle.safetensors"), "--data", str(tiny_data), "--experiments",
                 "scenes", "--count", "1", "--res", "24", "-o", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "scenes.csv")))
    assert len(rows) == 2 and all(r["found"] == "True" for r in rows)  # one scene alone, one "with 2-3" (1 test shape here)
    for r in rows:
        assert float(r["rot_err_deg"]) >= 0 and float(r["t_err_cm"]) >= 0 and float(r["posed_chamfer"]) > 0
    assert "held-out shapes found and fitted within 20 deg" in (out / "scenes.md").read_text()
    assert (out / "scenes.png").stat().st_size > 1000


def test_scene_seed_draws_other_scenes_numbered_apart(tiny_experiment, tiny_data, tmp_path, monkeypatch):
    """--scene-seed draws other scenes (a set never tuned on), numbered apart from the default's; the fits
    themselves are the test above's, so each scene's rows here are only what it was asked to render."""
    import core.evaluation.experiments as E

    drawn = {}

    def rows(bundle, meshes, names, truths, seed, *a, **k):
        drawn.setdefault(out, []).append(seed)
        return [{"scene": seed, "shape": n, "objects": len(names), "found": True, "rot_err_deg": 1.0, "t_err_cm": 1.0,
                 "scale_err_pct": 1.0, "chamfer": 1e-3, "fit_s": 1.0, "posed_chamfer": 1e-3, "posed_s": 1.0} for n in names]

    monkeypatch.setattr(E, "scene_rows", rows)
    bundle = str(tiny_experiment / "bundle.safetensors")
    for out in (tmp_path / "default", tmp_path / "other"):
        seed = ["--scene-seed", "1"] if out.name == "other" else []
        assert main(["evaluate", bundle, "--data", str(tiny_data), "--experiments", "scenes", "--count", "1",
                     "--res", "24", *seed, "-o", str(out)]) == 0
    assert drawn[tmp_path / "default"] == [0, 1] and drawn[tmp_path / "other"] == [1000, 1001]
    import csv
    assert [r["scene"] for r in csv.DictReader(open(tmp_path / "other" / "scenes.csv"))] == ["1000", "1001"]


def test_smooth_surface_denoises_only_a_noisy_scan():
    rng = np.random.default_rng(0)
    u, v = np.meshgrid(np.arange(120), np.arange(90))
    plane = np.column_stack([(u.ravel() - 60) * 0.005, (v.ravel() - 45) * 0.005, np.full(u.size, 2.5)])  # 5 mm pixels at 2.5 m
    normals = np.tile([0.0, 0.0, -1.0], (len(plane), 1))
    same, n, noise = smooth_surface(plane.astype(np.float32), normals)
    assert same is not None and np.array_equal(same, plane.astype(np.float32)) and noise < 1e-3  # clean: untouched
    noisy = plane.copy()
    noisy[:, 2] += rng.normal(0, 0.01, len(plane))  # 1 cm: twice the pixel spacing
    flying = np.array([[0.0, 0.0, 3.4], [0.05, 0.0, 3.8]])  # between a silhouette and the wall behind
    pts, n, noise = smooth_surface(np.vstack([noisy, flying]).astype(np.float32), np.vstack([normals, normals[:2]]))
    assert 0.004 < noise < 0.012  # estimated from the scan
    assert len(pts) <= len(noisy) and not (pts[:, 2] > 3.0).any()  # the flying pixels are gone
    assert np.median(np.abs(pts[:, 2] - 2.5)) < 0.75 * np.median(np.abs(noisy[:, 2] - 2.5))  # nearer the plane
    assert np.median(n @ np.array([0.0, 0.0, -1.0])) > 0.9  # within ~25 deg, facing the camera (pixel normals: ~60 deg off)
    kept, kept_n = drop_flying_pixels(np.vstack([noisy, flying]), np.vstack([normals, normals[:2]]))
    assert not (kept[:, 2] > 3.0).any() and len(kept) >= 0.99 * len(noisy)  # the sensor's points, less the flying ones
    assert np.isin(kept[:, 2], noisy[:, 2]).all() and len(kept_n) == len(kept)  # unsmoothed


def test_silhouette_free_space_lies_on_seen_rays_in_front_of_what_they_hit():
    """Free-space points around an object's outline: only on rays that pass the object and hit something
    behind it, short of that hit; none through the object or an occluder in front of it."""
    from core.scans.scan import back_project, silhouette_free_space

    cam = Camera(100.0, 100.0, 50.0, 50.0, 100, 100)
    depth = np.full((100, 100), 3.0, np.float32)  # a wall
    depth[40:60, 40:60] = 2.0  # the object
    depth[40:60, 62:70] = 1.0  # an occluder in front of its right side
    depth[:, :5] = np.nan  # no return
    mask = np.zeros(depth.shape, bool)
    mask[40:60, 40:60] = True
    pts = silhouette_free_space(back_project(depth, cam)[0], mask, margin=0.05)
    assert len(pts) > 500 and np.isfinite(pts).all()
    u = np.round(pts[:, 0] / pts[:, 2] * cam.fx + cam.cx).astype(int)
    v = np.round(pts[:, 1] / pts[:, 2] * cam.fy + cam.cy).astype(int)
    assert not mask[v, u].any() and not (depth[v, u] < 1.5).any()  # not the object's rays, not the occluder's
    assert np.isfinite(depth[v, u]).all()
    dist, hit = np.linalg.norm(pts, axis=1), depth[v, u] * np.linalg.norm(np.column_stack(
        [(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, np.ones(len(u))]), axis=1)
    assert (dist <= hit - 0.05 + 1e-4).all()
    assert dist.min() > 1.7 and dist.max() < 3.0  # around the object's depth, not at the camera
    assert abs(u.mean() - 50) < 10 and (np.abs(u - 50) < 20).all()  # its box grown by 30 %
    assert len(silhouette_free_space(back_project(depth, cam)[0], np.zeros_like(mask), 0.05)) == 0
    holed = depth.copy()
    holed[45, 45] = np.nan  # a dropout inside the object's mask (a sensor's, at a grazing angle)
    again = silhouette_free_space(back_project(holed, cam)[0], mask, margin=0.05)
    assert len(again) > 500 and np.isfinite(again).all()


def test_sticking_out_counts_the_pixels_a_shape_covers_in_front_of_what_was_seen():
    """A box seen in front of a wall: the true box sticks out nowhere; one grown sideways covers the wall
    beside it (counted per pixel of the object); one grown backwards stays behind its outline; the part
    of a wide one behind an occluder or where there is no depth is not counted."""
    import trimesh

    from core.fileio import DataError
    from core.scans.scan import back_project, sticking_out

    cam = Camera(100.0, 100.0, 50.0, 50.0, 100, 100)
    depth = np.full((100, 100), 3.0, np.float32)  # a wall
    depth[40:60, 40:60] = 2.0  # the object: a 0.4 x 0.4 box face at z = 2
    mask = np.zeros(depth.shape, bool)
    mask[40:60, 40:60] = True
    points = back_project(depth, cam)[0]

    def box(x1, z1=2.4):  # just inside the object's pixels' rays: its front face at z = 2, 0.398 across
        return trimesh.creation.box(bounds=[[-0.199, -0.199, 2.0], [x1, 0.199, z1]])

    assert sticking_out(box(0.199), points, mask, margin=0.05) == 0
    assert sticking_out(box(0.199, z1=2.9), points, mask, margin=0.05) == 0  # deeper: hidden behind itself
    wide = sticking_out(box(0.299), points, mask, margin=0.05)  # 5 more columns of 19 rows, per 400 pixels
    assert wide == pytest.approx(95 / 400)
    occluded = depth.copy()
    occluded[40:60, 60:70] = 1.0  # something nearer covers the part beside it
    assert sticking_out(box(0.299), back_project(occluded, cam)[0], mask, margin=0.05) == 0
    unseen = depth.copy()
    unseen[:, 60:] = np.nan
    assert sticking_out(box(0.299), back_project(unseen, cam)[0], mask, margin=0.05) == 0
    assert sticking_out(trimesh.Trimesh(), points, mask, 0.05) == float("inf")  # explains nothing
    with pytest.raises(DataError, match="no pixel with depth"):
        sticking_out(box(0.199), back_project(np.full_like(depth, np.nan), cam)[0], mask, 0.05)


def test_evaluate_on_another_split_names_the_shapes_without_a_code(tiny_experiment, tiny_data, tmp_path):
    """A data folder whose training split is not the model's (a shape added since, e.g. re-prepared):
    the known shapes are those with a code, the others named; a split with none of them is refused."""
    from core.model.bundle import load_bundle
    from core.evaluation.experiments import Context
    from core.fileio import DataError

    split = json.loads((tiny_data / "splits" / "chairs_train.json").read_text())
    (source, classes), = split.items()
    names = classes["chairs"]
    (tmp_path / "splits").mkdir()
    classes["chairs"] = names + ["chairs_09999"]
    (tmp_path / "splits" / "chairs_train.json").write_text(json.dumps(split))
    ctx = Context(load_bundle(tiny_experiment / "bundle.safetensors"), tmp_path, tmp_path / "eval")
    with pytest.warns(UserWarning, match="1 shape.*no code in the model.*chairs_09999"):
        known = ctx.known()
    assert [e[2] for e, _ in known] == names and [ctx.bundle.latents.names[i] for _, i in known] == names
    classes["chairs"] = ["chairs_09999"]
    (tmp_path / "splits" / "chairs_train.json").write_text(json.dumps(split))
    with pytest.warns(UserWarning), pytest.raises(DataError, match="none of the training split's shapes has a code"):
        ctx.known()
