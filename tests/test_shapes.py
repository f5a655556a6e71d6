import numpy as np
import torch
import pytest

from core.data.shapes import CATEGORIES, make_shape, synth


@pytest.mark.parametrize("category", sorted(CATEGORIES))
def test_shapes_watertight_normalised_deterministic(category):
    for seed in range(4):
        mesh = make_shape(category, seed)
        assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
        assert np.linalg.norm(mesh.vertices, axis=1).max() <= 1 / 1.03 + 1e-6
        assert np.allclose(mesh.vertices, make_shape(category, seed).vertices)
    assert not np.allclose(make_shape(category, 0).extents, make_shape(category, 1).extents)


def test_chairs_vary_like_a_category():
    meshes = [make_shape("chairs", s) for s in range(24)]
    heights = [m.extents[1] / m.extents[0] for m in meshes]
    assert np.std(heights) > 0.1  # back heights and seat widths vary
    assert len({round(m.volume, 4) for m in meshes}) == 24


def test_synth_writes_files_and_keeps_existing(tmp_path):
    paths = synth("tables", 2, 5, tmp_path, progress=False)
    assert [p.name for p in paths] == ["tables_00005.ply", "tables_00006.ply"]
    stamp = paths[0].stat().st_mtime_ns
    synth("tables", 2, 5, tmp_path, progress=False)
    assert paths[0].stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="unknown category"):
        make_shape("spaceships", 0)


def test_chair_whose_parts_touch_along_an_edge_is_still_a_solid():
    """Seed 173: merging the vertices of parts that touch along an edge made a non-manifold edge."""
    from core.data.shapes import make_shape

    mesh = make_shape("chairs", 173)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0


def test_every_seating_kind_is_one_closed_piece_and_known_from_its_seed():
    """The seating family: each kind (office chairs on castors, sofas, cantilevers, rocking chairs, ...) is made
    as one watertight piece (a seat floating off its frame would teach the model chairs that fall apart),
    and a shape's kind is known from its seed without building it."""
    from core.data.seating import KINDS
    from core.data.shapes import shape_kind

    first = {}
    for seed in range(200):
        first.setdefault(shape_kind("seating", seed), seed)
    assert set(first) == set(KINDS)
    for kind, seed in first.items():
        mesh = make_shape("seating", seed)
        assert mesh.is_watertight and mesh.body_count == 1, (kind, seed, mesh.body_count)
    sofa, stool = make_shape("seating", first["sofa"]), make_shape("seating", first["stool"])
    assert sofa.extents[0] > 1.5 * sofa.extents[1] and stool.extents[1] > stool.extents[0]  # long and low; tall and narrow
    assert shape_kind("chairs", 3) == "chair"


def test_a_shape_is_named_by_its_kind_and_a_kind_picks_its_first_shape(tiny_experiment):
    """Names as synth writes them carry their kind; other names (ShapeNet ids, fits) have none. A model's code is
    reached by a kind too (the CLI's interpolate A B), its first shape of that kind."""
    from core.data.shapes import kinds, name_kind, named_shape, shape_kind
    from core.model.bundle import load_bundle

    assert name_kind("seating_00004") == shape_kind("seating", 4) and name_kind("chairs_00003") == "chair"
    assert name_kind("1a2b3c4d") is None and name_kind("fit 1") is None and name_kind("seating_x") is None
    assert np.array_equal(named_shape("chairs_00003").vertices, make_shape("chairs", 3).vertices)
    with pytest.raises(ValueError, match="fit 1"):
        named_shape("fit 1")
    names = [f"seating_{i:05d}" for i in range(40)] + ["fit 1"]
    by_kind = kinds(names)
    assert sum(map(len, by_kind.values())) == 40 and all(name_kind(n) == k for k, v in by_kind.items() for n in v)
    bundle = load_bundle(tiny_experiment / "bundle.safetensors")
    first_chair = bundle.latents.names[0]
    assert torch.equal(bundle.code("chair"), bundle.code(first_chair))
    with pytest.raises(KeyError, match="sofa"):
        bundle.code("sofa")  # the tiny chairs model has none
