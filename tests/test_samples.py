import json

import numpy as np
import pytest
import trimesh

from core.fileio import DataError
from core.data.samples import normalize, prepare, read_sdf_npz, signed_distance, write_sdf_npz


def test_sdf_of_box_is_exact():
    box = trimesh.creation.box(extents=(1.0, 0.6, 0.4))
    rng = np.random.default_rng(0)
    p = rng.uniform(-1, 1, size=(5000, 3))
    q = np.abs(p) - np.array([0.5, 0.3, 0.2])
    exact = np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(1), 0)
    sdf, _ = signed_distance(box, p)
    assert np.abs(sdf - exact).max() < 1e-4


def test_sdf_of_sphere_negative_inside():
    sphere = trimesh.creation.icosphere(subdivisions=6, radius=0.5)
    p = np.random.default_rng(1).uniform(-0.9, 0.9, size=(5000, 3))
    sdf, _ = signed_distance(sphere, p)
    exact = np.linalg.norm(p, axis=1) - 0.5
    assert np.abs(sdf - exact).max() < 1e-4
    assert np.all(np.sign(sdf[np.abs(exact) > 1e-3]) == np.sign(exact[np.abs(exact) > 1e-3]))


def test_normalize_official_formula():
    mesh = trimesh.creation.box(extents=(4.0, 2.0, 2.0))
    mesh.apply_translation((10, 0, 0))
    normed, offset, scale = normalize(mesh)
    assert np.allclose(offset, (-10, 0, 0))
    assert np.isclose(scale, 1 / (1.03 * np.sqrt(6)))
    assert np.isclose(np.linalg.norm(normed.vertices, axis=1).max(), 1 / 1.03)


def test_npz_round_trip_and_bad_files(tmp_path):
    pts = np.random.default_rng(0).normal(size=(100, 3))
    sdf = pts[:, 0].copy()
    write_sdf_npz(tmp_path / "s.npz", pts, sdf)
    with np.load(tmp_path / "s.npz") as npz:
        assert npz["pos"].dtype == np.float32 and npz["pos"].shape[1] == 4
        assert (npz["pos"][:, 3] > 0).all() and (npz["neg"][:, 3] <= 0).all()
    pos, neg = read_sdf_npz(tmp_path / "s.npz")
    assert len(pos) + len(neg) == 100

    data = (tmp_path / "s.npz").read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="trunc.npz"):
        read_sdf_npz(tmp_path / "trunc.npz")
    np.savez(tmp_path / "shape.npz", pos=np.zeros((5, 3), np.float32), neg=np.zeros((5, 4), np.float32))
    with pytest.raises(DataError, match=r"shape.npz: 'pos' must be a float \(n, 4\)"):
        read_sdf_npz(tmp_path / "shape.npz")
    np.savez(tmp_path / "keys.npz", a=np.zeros((5, 4)))
    with pytest.raises(DataError, match="expected arrays 'pos' and 'neg'"):
        read_sdf_npz(tmp_path / "keys.npz")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        read_sdf_npz(tmp_path / "missing.npz")


def test_nan_rows_dropped(tmp_path):
    pos = np.ones((10, 4), np.float32)
    pos[3] = np.nan
    np.savez(tmp_path / "n.npz", pos=pos, neg=-np.ones((4, 4), np.float32))
    p, n = read_sdf_npz(tmp_path / "n.npz")
    assert len(p) == 9 and len(n) == 4
    np.savez(tmp_path / "allnan.npz", pos=pos, neg=np.full((4, 4), np.nan, np.float32))
    with pytest.raises(DataError, match="inside"):
        read_sdf_npz(tmp_path / "allnan.npz")


def test_prepare_layout_and_skips(tmp_path):
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    trimesh.creation.box(extents=(1, 2, 1)).export(meshes / "tall.obj")
    trimesh.creation.icosphere(radius=3).export(meshes / "ball.stl")
    open_box = trimesh.creation.box()
    open_box.update_faces(np.arange(len(open_box.faces)) > 1)  # remove one side: not watertight
    open_box.export(meshes / "open.ply")
    (meshes / "broken.off").write_text("OFF\n3 1 0\n0 0 0\n")
    shapenet = meshes / "abc123" / "models"
    shapenet.mkdir(parents=True)
    trimesh.creation.cylinder(radius=1, height=2).export(shapenet / "model_normalized.obj")

    exact = prepare(meshes, tmp_path / "exact", split_test=0.0, samples=4000, workers=1, progress=False,
                    category="things", sign="exact")
    assert "not watertight" in exact["skipped"]["open"] and "open.ply" in exact["skipped"]["open"]
    r = prepare(meshes, tmp_path / "data", split_test=0.0, samples=4000, workers=1, progress=False, category="things")
    assert sorted(r["train"]) == ["abc123", "ball", "open", "tall"]  # auto: the open box's inside is the winding number's
    assert set(r["skipped"]) == {"broken"} and "broken.off" in r["skipped"]["broken"]
    signs = {row["instance"]: row.get("sign") for row in r["report"]}
    # light through the missing side: a closed surface with a hole, the winding number fills it in
    assert signs["open"] == "winding+visibility" and signs["tall"] == "exact"
    assert 0.5 < next(row["agreement"] for row in r["report"] if row["instance"] == "open") < 1
    split = json.loads((tmp_path / "data" / "splits" / "things_train.json").read_text())
    assert sorted(split["synthetic"]["things"]) == ["abc123", "ball", "open", "tall"]
    report = (tmp_path / "data" / "prepare_report.csv").read_text()
    assert report.startswith("instance,class,mesh,status,reason,faces,parts") and "broken.off" in report
    npz = tmp_path / "data" / "SdfSamples" / "synthetic" / "things" / "tall.npz"
    pos, neg = read_sdf_npz(npz)
    assert len(pos) + len(neg) == 4000
    inside = neg[:, :3]
    assert np.all(np.abs(inside) <= np.array([0.5, 1.0, 0.5]) / np.sqrt(1.5) / 1.03 + 1e-4)
    with np.load(tmp_path / "data" / "NormalizationParameters" / "synthetic" / "things" / "tall.npz") as n:
        assert n["offset"].shape == (3,) and n["scale"].shape == (1,) and n["offset"].dtype == np.float32
    surface = trimesh.load(tmp_path / "data" / "SurfaceSamples" / "synthetic" / "things" / "tall.ply")
    assert len(surface.vertices) == 30_000
    stamp = npz.stat().st_mtime_ns
    prepare(meshes, tmp_path / "data", split_test=0.0, samples=4000, workers=1, progress=False, category="things")
    assert npz.stat().st_mtime_ns == stamp  # resumable: finished shapes are kept
