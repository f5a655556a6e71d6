"""Signs for damaged meshes whose true inside is known, ShapeNet layouts, split files and bad input."""
import json

import numpy as np
import pytest
import trimesh

from core.data.shapes import sheet_soup
from core.data.samples import prepare, read_sdf_npz, sample_near_surface, signed_distance
from core.data.sign import describe_mesh, soup_signed_distance, visible_outside, winding_signed_distance
from tests.damage import chair_and_parts, flipped_parts_and_duplicate, internal_plane_and_holes, with_holes

DAMAGE = {
    "5 % of faces removed": lambda whole, parts: with_holes(whole, 0.05, 1),
    "every other part flipped, a duplicated intersecting part": lambda whole, parts: flipped_parts_and_duplicate(parts),
    "an internal plane and 2 % holes": lambda whole, parts: internal_plane_and_holes(whole, parts, 0.02, 2),
}


@pytest.mark.parametrize("method", ["winding", "auto"])
@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_chairs_keep_the_sign_and_distance_of_the_undamaged_one(damage, seed, method):
    whole, parts = chair_and_parts(seed)
    soup = DAMAGE[damage](whole, parts)
    report = describe_mesh(soup)
    assert report.boundary_edges > 0 or report.parts > len(parts)  # really damaged
    points = sample_near_surface(whole, 20_000, np.random.default_rng(seed))
    truth, _ = signed_distance(whole, points)
    sdf, _, report = soup_signed_distance(soup, points, method)
    far = np.abs(truth) > 0.01
    agree = np.mean(np.sign(sdf[far]) == np.sign(truth[far]))
    assert agree >= 0.995, f"{damage}: sign agrees for {agree:.2%} ({report})"
    assert np.median(np.abs(sdf - truth)) <= 0.002


def _agreement(sdf, truth, far=0.02):
    far = np.abs(truth) > far
    return float(np.mean((sdf < 0)[far] == (truth < 0)[far]))


def test_a_chair_of_single_sided_sheets_is_signed_by_visibility():
    """Real meshes make closed surfaces of many open sheets; sheets do not vote in the winding number, so it
    sees no inside at all, where visibility (auto's choice here) sees the chair's."""
    whole, _ = chair_and_parts(3)
    soup = sheet_soup(whole.subdivide(), 3)
    points = sample_near_surface(whole, 20_000, np.random.default_rng(3))
    truth, _ = signed_distance(whole, points)
    winding, _, report = soup_signed_distance(soup, points, "winding")
    assert report.sheets > 100 and np.mean(winding < 0) < 0.01
    sdf, _, report = soup_signed_distance(soup, points, "auto")
    assert report.sign == "visibility" and report.agreement < 0.9
    assert _agreement(sdf, truth) >= 0.995
    assert np.median(np.abs(np.abs(sdf) - np.abs(truth))) < 1e-6  # the distance is the surface's, as before


def test_open_frames_are_outside_as_visibility_says_and_holes_are_filled():
    """The two ways rays get out of what the winding number calls inside: the wide open sides of a frame
    (short open boxes, as a real folding chair is made of: outside, as the reference preprocessor says) or
    a hole in a closed surface (few rays get out: filled in)."""
    rng = np.random.default_rng(0)
    seat = trimesh.creation.box(extents=(1.0, 0.1, 1.0))
    frames = []
    for x in (-0.3, 0.3):
        frame = trimesh.creation.box(extents=(0.3, 0.3, 0.3)).subdivide()
        # no top, no bottom: from inside, winding number ~4/6 (four sides of six), a third of rays get out
        frame.update_faces(np.abs(frame.face_normals[:, 1]) < 0.5)
        frame.apply_translation([x, -0.3, 0])
        frames.append(frame)
    mesh = trimesh.util.concatenate([seat, *frames])
    in_frame = rng.uniform([0.25, -0.35, -0.05], [0.35, -0.25, 0.05], (200, 3))
    in_seat = rng.uniform([-0.45, -0.04, -0.45], [0.45, 0.04, 0.45], (200, 3))
    points = np.vstack([in_frame, in_seat, sample_near_surface(mesh, 5000, rng)])
    sdf, _, report = soup_signed_distance(mesh, points, "auto")
    assert report.sign == "visibility" and (soup_signed_distance(mesh, in_frame, "winding")[0] < 0).all()
    assert (sdf[:200] > 0).all() and (sdf[200:400] < 0).all()
    holed = seat.subdivide().subdivide()
    holed.update_faces(np.arange(len(holed.faces)) != 7)
    assert (soup_signed_distance(holed, in_seat, "visibility")[0] > 0).any()  # light through the hole
    sdf, _, report = soup_signed_distance(holed, in_seat, "auto")
    assert report.sign == "winding+visibility" and (sdf < 0).all()


def test_a_chair_turned_inside_out_over_a_copy_of_itself_is_prepared(tmp_path):
    """A coincident copy with its faces flipped: every edge is used four times, so the parts look like
    flat sheets to the winding number; visibility sees the one solid."""
    whole, _ = chair_and_parts(5)
    doubled = trimesh.Trimesh(np.vstack([whole.vertices, whole.vertices]),
                              np.vstack([whole.faces[:, ::-1], whole.faces + len(whole.vertices)]), process=False)
    (tmp_path / "meshes").mkdir()
    doubled.export(tmp_path / "meshes" / "inside_out.ply")
    r = prepare(tmp_path / "meshes", tmp_path / "data", split_test=0.0, samples=20_000, workers=1, progress=False,
                category="chairs")
    assert r["train"] == ["inside_out"], r["skipped"]
    pos, neg = read_sdf_npz(tmp_path / "data" / "SdfSamples" / "synthetic" / "chairs" / "inside_out.npz")
    rows = np.vstack([pos, neg])
    truth, _ = signed_distance(whole, rows[:, :3].astype(np.float64))
    assert _agreement(rows[:, 3], truth) >= 0.995


def test_visibility_is_the_same_check_from_other_directions():
    """The independent reference the benches use: other ray directions and seed, the same answer away from
    the surface of a closed mesh."""
    whole, _ = chair_and_parts(2)
    points = sample_near_surface(whole, 5000, np.random.default_rng(2))
    truth, _ = signed_distance(whole, points)
    far = np.abs(truth) > 0.02
    for seed in (0, 99):
        assert np.array_equal(visible_outside(whole, points, seed=seed)[far], truth[far] > 0)


def test_flipped_parts_would_fool_a_plain_winding_number():
    """Why parts are re-oriented: the raw winding number of the flipped soup is wrong inside flipped parts."""
    import igl

    whole, parts = chair_and_parts(0)
    soup = flipped_parts_and_duplicate(parts)
    points = sample_near_surface(whole, 5000, np.random.default_rng(0))
    truth, _ = signed_distance(whole, points)
    far = np.abs(truth) > 0.01
    raw = igl.fast_winding_number(soup.vertices, soup.faces, points)
    assert np.mean((raw > 0.5)[far] != (truth < 0)[far]) > 0.02
    sdf, _, report = winding_signed_distance(soup, points)
    assert report.flipped_parts >= len(parts) // 2 and report.internal_faces > 0
    assert np.mean((sdf < 0)[far] != (truth < 0)[far]) < 0.005


def _write_shapenet(root, synset, models, v2=True):
    for i, model in enumerate(models):
        folder = root / synset / model / ("models" if v2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        mesh = trimesh.creation.box(extents=(1 + 0.1 * i, 1, 1))
        mesh.update_faces(np.arange(len(mesh.faces)) != 3)  # a hole, as real meshes have
        mesh.export(folder / ("model_normalized.obj" if v2 else "model.obj"))


@pytest.mark.parametrize("v2", [True, False])
def test_shapenet_layout_with_an_official_split(tmp_path, v2):
    root = tmp_path / ("ShapeNetCore.v2" if v2 else "ShapeNetCore.v1")
    _write_shapenet(root, "03001627", ["1a6f615e8b1b5ae4", "2b7c", "3c8d"], v2)
    _write_shapenet(root, "04379243", ["9f9f"], v2)  # another class, not in the split
    split = tmp_path / "sv2_chairs_train.json"
    split.write_text(json.dumps({"ShapeNetV2": {"03001627": ["1a6f615e8b1b5ae4", "3c8d", "missing0"]}}))
    r = prepare(root, tmp_path / "data", samples=3000, workers=1, progress=False, split=split)
    assert sorted(r["train"]) == ["1a6f615e8b1b5ae4", "3c8d"] and r["test"] == []
    assert "missing0" in r["skipped"]["missing0"] and "sv2_chairs_train.json" in r["skipped"]["missing0"]
    pos, neg = read_sdf_npz(tmp_path / "data" / "SdfSamples" / "ShapeNetV2" / "03001627" / "3c8d.npz")
    assert len(pos) + len(neg) == 3000 and len(neg) > 100
    assert not (tmp_path / "data" / "SdfSamples" / "ShapeNetV2" / "03001627" / "2b7c.npz").exists()
    assert json.loads((tmp_path / "data" / "splits" / "sv2_chairs_train.json").read_text()) == json.loads(split.read_text())
    sources = json.loads((tmp_path / "data" / "splits" / "03001627_sources.json").read_text())  # evaluate reads it
    assert sorted(sources) == ["1a6f615e8b1b5ae4", "3c8d"] and sources["3c8d"].endswith(".obj")
    test = prepare(root, tmp_path / "data", samples=3000, workers=1, progress=False, split=split, test=True)
    assert test["train"] == [] and sorted(test["test"]) == ["1a6f615e8b1b5ae4", "3c8d"]  # already done: kept


def test_formats_scenes_and_bad_input(tmp_path):
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    (meshes / "quads.obj").write_text(  # a cube of quads in two groups, with an mtl that is missing
        "mtllib missing.mtl\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\nv 1 0 1\nv 1 1 1\nv 0 1 1\n"
        "g bottom\nusemtl a\nf 1 4 3 2\nf 1 2 6 5\ng rest\nusemtl b\nf 2 3 7 6\nf 3 4 8 7\nf 4 1 5 8\nf 5 6 7 8\n")
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(), transform=trimesh.transformations.translation_matrix([2, 0, 0]))
    scene.add_geometry(trimesh.creation.icosphere())
    scene.export(meshes / "scene.glb")
    trimesh.creation.box().export(meshes / "solid.stl")
    sheet = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]])
    sheet.export(meshes / "sheet.ply")
    trimesh.PointCloud(np.random.default_rng(0).random((50, 3))).export(meshes / "cloud.ply")
    (meshes / "empty.obj").write_text("")
    (meshes / "nan.off").write_text("OFF\n3 1 0\nnan 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    (meshes / "truncated.ply").write_bytes(trimesh.creation.box().export(file_type="ply")[:200])
    r = prepare(meshes, tmp_path / "data", split_test=0.0, samples=3000, workers=1, progress=False)
    assert sorted(r["train"]) == ["quads", "scene", "solid"]
    assert set(r["skipped"]) == {"sheet", "cloud", "empty", "nan", "truncated"}
    assert "encloses no volume" in r["skipped"]["sheet"]
    for name, why in r["skipped"].items():
        assert name in why  # the file is named
    assert "NaN" in r["skipped"]["nan"]
    rows = {row["instance"]: row for row in r["report"]}
    assert int(rows["scene"]["parts"]) == 2  # the scene's two objects, with their transforms
    with pytest.raises(Exception, match="no meshes"):
        prepare(tmp_path / "data" / "splits", tmp_path / "out", progress=False)
