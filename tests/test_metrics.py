import numpy as np
import pytest

from core.evaluation.metrics import accuracy, chamfer, completion, emd, fscore, normal_consistency, sample_oriented


def test_identical_sets_are_zero():
    p = np.random.default_rng(0).normal(size=(2000, 3))
    assert chamfer(p, p) == 0.0
    assert emd(p[:200], p[:200], count=200) == pytest.approx(0.0, abs=1e-12)
    assert accuracy(p, p) == 0.0 and completion(p, p) == 1.0 and fscore(p, p) == 1.0


def test_shifted_sets_known_values():
    # points on a line spaced 1 apart, shifted by 0.1: each nearest neighbour is 0.1 away
    a = np.stack([np.arange(100.0), np.zeros(100), np.zeros(100)], 1)
    b = a + [0.0, 0.1, 0.0]
    assert chamfer(a, b) == pytest.approx(2 * 0.1 ** 2)  # official: squared, both directions summed
    assert emd(a, b, count=100) == pytest.approx(0.1)
    assert accuracy(a, b) == pytest.approx(0.1)
    assert completion(a, b, threshold=0.05) == 0.0 and completion(a, b, threshold=0.11) == 1.0
    assert fscore(a, b, tau=0.2) == 1.0 and fscore(a, b, tau=0.05) == 0.0


def test_empty_sets_raise():
    with pytest.raises(ValueError, match="non-empty"):
        chamfer(np.zeros((0, 3)), np.zeros((5, 3)))


def test_normal_consistency():
    import trimesh

    sphere = trimesh.creation.icosphere(4)
    pts, normals = sample_oriented(sphere, 5000)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0)
    assert np.mean(np.sum(normals * pts, axis=1)) > 0.99  # outward on a unit sphere
    assert normal_consistency(pts, normals, pts, -normals) == pytest.approx(1.0)  # orientation-blind
    # two planes at 60 degrees: every pair of normals has |cos| = 0.5
    plane = np.stack(np.meshgrid(np.linspace(0, 1, 30), np.linspace(0, 1, 30), [0.0]), -1).reshape(-1, 3)
    up, tilted = np.tile([0.0, 0.0, 1.0], (len(plane), 1)), np.tile([np.sin(np.pi / 3), 0.0, 0.5], (len(plane), 1))
    assert normal_consistency(plane, up, plane + [0, 0, 0.1], tilted) == pytest.approx(0.5)


def test_pieces_ignores_slivers():
    import trimesh

    from core.evaluation.metrics import pieces

    a = trimesh.creation.icosphere(radius=0.5)
    b = trimesh.creation.icosphere(radius=0.3).apply_translation([2, 0, 0])
    sliver = trimesh.creation.icosphere(radius=0.005).apply_translation([0, 3, 0])  # 0.01 % of the area
    assert pieces(a) == 1
    assert pieces(trimesh.util.concatenate([a, sliver])) == 1
    assert pieces(trimesh.util.concatenate([a, b, sliver])) == 2
