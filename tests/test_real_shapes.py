"""evaluate --experiments real-shapes: raw part soups prepared, fitted without their pose, failures counted."""
import csv

import numpy as np
import trimesh

from core.cli import main
from core.data.shapes import make_shape, sheet_soup
from core.evaluation.metrics import chamfer, sample_surface
from core.mesh.meshing import mesh_code
from core.model.bundle import load_bundle


def test_real_shapes_prepares_turns_and_fits_raw_meshes_and_counts_failures(tiny_experiment, tmp_path):
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    chair = make_shape("chairs", 7)  # one of the tiny model's own shapes, y-up
    sheet_soup(chair, 0).export(meshes / "sheets.obj")  # a part soup, as ShapeNet ships chairs (y-up)
    sideways = chair.copy()
    sideways.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [0, 0, 1]))  # y -> x
    sideways.export(meshes / "sideways.ply")
    (meshes / "broken.obj").write_text("v 0 0 0\nf 1 2 3\n")
    out = tmp_path / "eval"
    assert main(["evaluate", str(tiny_experiment / "bundle.safetensors"), "--experiments", "real-shapes", "--meshes",
                 str(meshes), "--up", "sideways=x", "--res", "32", "-o", str(out)]) == 0
    rows = {r["mesh"]: r for r in csv.DictReader(open(out / "real_shapes.csv"))}
    assert sorted(rows) == ["broken", "sheets", "sideways"]
    assert rows["broken"]["failure"] and float(rows["broken"]["chamfer"]) == float("inf")  # counted, not dropped
    assert rows["sideways"]["up"] == "x" and rows["sheets"]["up"] == "y"
    assert rows["sheets"]["sign"] == "visibility"
    tiny = load_bundle(tiny_experiment / "bundle.safetensors")
    own = mesh_code(tiny.decoder, tiny.code(tiny.latents.names.index("chairs_00007")), 32)
    own_chamfer = chamfer(sample_surface(own), trimesh.sample.sample_surface(chair, 30_000, seed=0)[0])
    for name in ("sheets", "sideways"):  # turned upright, it is the chair the model knows
        assert not rows[name]["failure"] and float(rows[name]["chamfer"]) < 1.5 * own_chamfer + 2e-3, (rows[name], own_chamfer)
        assert rows[name]["nearest_training"] in tiny.latents.names
    text = (out / "real_shapes.md").read_text()
    assert "1 failed" in text and "| **median** |" in text
    assert main(["evaluate", str(tiny_experiment / "bundle.safetensors"), "--experiments", "real-shapes",
                 "-o", str(out)]) == 1  # no --meshes: a clear error


def test_up_axis_by_name_then_by_format():
    """ModelNet's .off files stand z-up, ShapeNet's y-up; ``--up NAME=AXIS`` overrides either (the fit of a
    turned mesh is the test above's)."""
    from pathlib import Path

    from core.evaluation.experiments import _turn, up_axis

    assert up_axis(Path("m/chair_0001.off"), {}) == "z" and up_axis(Path("m/chair.OFF"), {}) == "z"
    assert up_axis(Path("m/model.obj"), {}) == "y" and up_axis(Path("m/chair_0001.off"), {"chair_0001": "-x"}) == "-x"
    assert np.allclose(_turn("z", 0.0) @ [0, 0, 1], [0, 1, 0]) and np.allclose(_turn("-x", 90.0) @ [-1, 0, 0], [0, 1, 0])
