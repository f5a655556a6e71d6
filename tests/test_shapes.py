import numpy as np
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
