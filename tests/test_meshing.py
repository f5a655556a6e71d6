import numpy as np
import pytest
import torch
import trimesh
from skimage.measure import marching_cubes as sk_marching_cubes

from core.evaluation.bench import analytic_chair
from core.model.bundle import load_bundle
from core.cli import main
from core.mesh.meshing import (SurfaceMesh, export_mesh, marching_cubes_torch, marching_cubes_vtk, memo_mesher, mesh_code,
                          mesh_levels)

N = 49
AX = torch.linspace(-1, 1, N, dtype=torch.float64)
X, Y, Z = torch.meshgrid(AX, AX, AX, indexing="ij")
SPACING = 2 / (N - 1)


def smooth_random_field(seed=0):
    g = torch.Generator().manual_seed(seed)
    f = 0.45 - (X ** 2 + Y ** 2 + Z ** 2).sqrt()
    for _ in range(6):
        k = torch.randn(3, generator=g, dtype=torch.float64) * 3
        f = f + 0.05 * torch.sin(k[0] * X + k[1] * Y + k[2] * Z + torch.rand(1, generator=g).item() * 6)
    return -f


FIELDS = {
    "sphere": (X ** 2 + Y ** 2 + Z ** 2).sqrt() - 0.6,
    "torus": ((X ** 2 + Y ** 2).sqrt() - 0.5) ** 2 + Z ** 2 - 0.2 ** 2,
    "box": torch.maximum(torch.maximum(X.abs() - 0.51, Y.abs() - 0.31), Z.abs() - 0.41),
    "grid_aligned_box": torch.maximum(torch.maximum(X.abs() - 0.5, Y.abs() - 0.25), Z.abs() - 0.375),
    "random": smooth_random_field(),
    "border": X + 0.3 * Y - 0.1,  # an open sheet through the grid border
    "clipped_sphere": (X ** 2 + Y ** 2 + Z ** 2).sqrt() - 1.1,  # the border cuts it open
}


def skimage_mesh(values):
    v, f, _, _ = sk_marching_cubes(values.numpy(), 0.0, spacing=(SPACING,) * 3)
    return trimesh.Trimesh(v - 1, f)


@pytest.mark.parametrize("name", sorted(FIELDS))
@pytest.mark.parametrize("mc", [marching_cubes_torch, marching_cubes_vtk])
def test_marching_cubes_matches_skimage(name, mc):
    values = FIELDS[name]
    ours = mc(values, 0.0, (-1, -1, -1), SPACING).to_trimesh()
    if name == "grid_aligned_box":  # nodes exactly on the surface: zero counts as outside
        assert ours.is_watertight and abs(ours.volume - 0.375) < 0.03 * 0.375
        return
    ref = skimage_mesh(values)
    assert abs(ours.area - ref.area) <= 0.005 * ref.area
    closed = name in ("sphere", "torus", "box", "random")
    if closed:
        assert len(ours.vertices) == len(ref.vertices) and len(ours.faces) == len(ref.faces)
        assert ours.is_watertight and ours.is_winding_consistent
        assert ours.volume > 0  # normals point to positive sdf
        assert abs(ours.volume - ref.volume) <= 0.005 * abs(ref.volume)
    assert len(ours.merge_vertices() or ours.vertices) == len(ours.vertices)  # vertices are shared, not duplicated


def test_any_iso_level():
    values = FIELDS["sphere"]
    mesh = marching_cubes_torch(values, 0.2, (-1, -1, -1), SPACING).to_trimesh()
    r = np.linalg.norm(mesh.vertices, axis=1)
    assert np.allclose(r, 0.8, atol=0.01)


def test_empty_and_full_fields():
    for values, word in ((torch.ones(9, 9, 9), "outside"), (-torch.ones(9, 9, 9), "inside")):
        for mc in (marching_cubes_torch, marching_cubes_vtk):
            mesh = mc(values, 0.0, (-1, -1, -1), 0.25)
            assert mesh.is_empty and word in mesh.stats["empty_reason"]
    mesh = mesh_code(None, None, 32, field_fn=lambda x: torch.ones(len(x)))
    assert mesh.is_empty and "outside" in mesh.stats["empty_reason"]
    with pytest.raises(ValueError, match="nothing to export"):
        export_mesh(mesh, "never.ply")


def test_narrow_band_equals_dense_on_analytic_thin_plate():
    for res in (64, 128):
        band = mesh_code(None, None, res, field_fn=analytic_chair)
        dense = mesh_code(None, None, res, field_fn=analytic_chair, dense=True)
        assert np.array_equal(band.faces, dense.faces)
        assert np.allclose(band.vertices, dense.vertices, atol=1e-6)
        assert band.stats["fraction"] < 0.25 and dense.stats["fraction"] == 1.0
    # the 0.01-thick back (thinner than a voxel) survives over its whole extent
    back = band.vertices[band.vertices[:, 1] > 0.1]
    assert np.abs(back[:, 2] + 0.37).max() < 0.02
    assert back[:, 0].min() < -0.38 and back[:, 0].max() > 0.38 and back[:, 1].max() > 0.78


def test_narrow_band_equals_dense_on_trained_model(tiny_experiment):
    bundle = load_bundle(tiny_experiment / "bundle.safetensors")
    codes = list(bundle.latents.codes) + [bundle.latents.codes.mean(0)]
    for z in codes:
        band = mesh_code(bundle.decoder, z, 64)
        dense = mesh_code(bundle.decoder, z, 64, dense=True)
        assert not band.is_empty
        assert np.array_equal(band.faces, dense.faces) and np.allclose(band.vertices, dense.vertices, atol=1e-6)


def test_memo_mesher_meshes_each_code_once(tiny_experiment, monkeypatch):
    import core.mesh.meshing as meshing

    bundle = load_bundle(tiny_experiment / "bundle.safetensors")
    made, real = [], meshing.mesh_code
    monkeypatch.setattr(meshing, "mesh_code", lambda *a, **k: made.append(1) or real(*a, **k))
    mesher = memo_mesher(bundle.decoder, 32, size=2)
    a, b, c = (bundle.latents.codes[i] for i in range(3))
    first = mesher(a)
    assert mesher(a.clone()) is first and len(made) == 1  # the same code, another tensor: kept
    assert np.array_equal(first.faces, real(bundle.decoder, a, 32).faces)
    mesher(b), mesher(a), mesher(c)  # c evicts b, the least recently used
    assert len(made) == 3
    mesher(a)
    assert len(made) == 3
    mesher(b)
    assert len(made) == 4


def test_progressive_levels_and_tiny_memory_budget():
    levels = list(mesh_levels(None, None, 64, field_fn=analytic_chair, memory_mb=0.001))
    assert [m.stats["res"] for m in levels] == [16, 32, 64]
    assert all(not m.is_empty for m in levels)
    assert np.allclose(levels[-1].vertices, mesh_code(None, None, 64, field_fn=analytic_chair).vertices)


@pytest.mark.parametrize("suffix", [".ply", ".obj", ".stl", ".glb", ".off"])
def test_export_round_trip(tmp_path, suffix):
    mesh = marching_cubes_torch(FIELDS["torus"].float(), 0.0, (-1, -1, -1), SPACING)
    path = export_mesh(mesh, tmp_path / f"torus{suffix}")
    back = trimesh.load(path, force="mesh")
    assert np.isclose(back.area, mesh.to_trimesh().area, rtol=1e-4)
    assert np.isclose(back.volume, mesh.to_trimesh().volume, rtol=1e-4)


def test_export_errors(tmp_path):
    mesh = marching_cubes_torch(FIELDS["sphere"].float(), 0.0, (-1, -1, -1), SPACING)
    with pytest.raises(ValueError, match="unsupported mesh format"):
        export_mesh(mesh, tmp_path / "x.xyz")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match="cannot write .*file/x.ply"):
        export_mesh(mesh, blocker / "x.ply")


def test_mesh_and_interpolate_cli(tiny_experiment, tmp_path):
    bundle_path = tiny_experiment / "bundle.safetensors"
    assert main(["mesh", str(bundle_path), "--index", "1", "--res", "32", "--original-frame", "-o", str(tmp_path / "m.obj"),
                 "--turntable", str(tmp_path / "m.gif")]) == 0
    assert (tmp_path / "m.gif").stat().st_size > 1000
    b = load_bundle(bundle_path)
    mesh = trimesh.load(tmp_path / "m.obj", force="mesh")
    assert np.linalg.norm(mesh.vertices, axis=1).max() > 1.0 / float(b.latents.scales[1]) * 0.3
    assert main(["mesh", str(bundle_path), "--shape", "nope", "-o", str(tmp_path / "n.ply")]) == 1
    assert main(["interpolate", str(bundle_path), "0", "2", "--steps", "3", "--res", "32", "--slerp", "-o", str(tmp_path / "seq")]) == 0
    assert sorted(p.name for p in (tmp_path / "seq").iterdir()) == ["step_000.ply", "step_001.ply", "step_002.ply"]


def test_raster_image_of_a_sphere():
    from core.mesh.meshing import empty_mesh
    from core.mesh.render import raster_image

    s = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    image = raster_image(SurfaceMesh(s.vertices.astype(np.float32), s.faces), (64, 64))
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert (image[0, 0] == 255).all() and (image[32, 32] < 250).any()  # white corner, shaded centre
    inside = image[(np.arange(64)[:, None] - 31.5) ** 2 + (np.arange(64)[None] - 31.5) ** 2 < 20**2]
    assert (inside < 250).any(axis=1).all() and inside.std() > 3  # covered, no holes, shading varies
    unframed = raster_image(SurfaceMesh(s.vertices.astype(np.float32), s.faces), (64, 64), fit=False)
    assert (unframed < 250).any(-1).sum() < (image < 250).any(-1).sum() / 2  # radius 0.5 in the unit sphere's frame
    assert (raster_image(empty_mesh("none"), (8, 8)) == 255).all()


def test_pictures_frame_the_unit_sphere():
    """Turntables, sequences and the evaluation's grids share one camera: the unit sphere fills the view
    without being cut (a chair's feet and back were)."""
    import pyvista as pv
    from core.mesh.render import render_images

    s = pv.Sphere(radius=1.0, theta_resolution=48, phi_resolution=48)
    image = render_images([SurfaceMesh(np.asarray(s.points, np.float32), s.regular_faces.astype(np.int64))], (64, 64))[0]
    shape = (image < 250).any(-1)
    assert not (shape[0].any() or shape[-1].any() or shape[:, 0].any() or shape[:, -1].any())
    assert shape[32].sum() > 0.85 * 64


def test_turntable_without_a_display(tiny_experiment, tmp_path):
    """A headless machine (no X display): VTK renders through EGL."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    gif = tmp_path / "spin.gif"
    run = subprocess.run([sys.executable, "-m", "core", "mesh", str(tiny_experiment / "bundle.safetensors"), "--res", "32",
                          "-o", str(tmp_path / "m.ply"), "--turntable", str(gif)], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert gif.stat().st_size > 1000


def test_sequence_export_failure_names_the_folder(tiny_experiment, tmp_path):
    from core.mesh.interpolate import export_sequence

    b = load_bundle(tiny_experiment / "bundle.safetensors")
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match="cannot create the sequence folder .*file/seq"):
        export_sequence(b.decoder, b.code(0), b.code(1), tmp_path / "file" / "seq", steps=2, res=16)


def _closed_random_field(seed: int, n: int = 25) -> torch.Tensor:
    """Gaussian-smoothed noise, outside on the border: many saddles (ambiguous faces), closed surfaces."""
    from scipy.ndimage import gaussian_filter

    f = gaussian_filter(np.random.default_rng(seed).standard_normal((n, n, n)), 1.5)
    f /= f.std()
    f[[0, -1], :, :] = f[:, [0, -1], :] = f[:, :, [0, -1]] = 1.0
    return torch.from_numpy(f)


def _edge_use(faces: np.ndarray) -> np.ndarray:
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    return np.unique(edges, axis=0, return_counts=True)[1]


def test_torch_marching_cubes_is_manifold_with_vtk_vertices_on_random_fields():
    from scipy.spatial import cKDTree

    for seed in range(100):
        values = _closed_random_field(seed)
        ours = marching_cubes_torch(values, 0.0, (0, 0, 0), 1.0)
        vtk = marching_cubes_vtk(values, 0.0, (0, 0, 0), 1.0)
        use = _edge_use(ours.faces)
        assert (use == 2).all(), f"seed {seed}: {(use > 2).sum()} non-manifold, {(use == 1).sum()} boundary edges"
        assert len(ours.vertices) == len(vtk.vertices)
        far = max(cKDTree(vtk.vertices).query(ours.vertices)[0].max(), cKDTree(ours.vertices).query(vtk.vertices)[0].max())
        assert far <= 1e-5, f"seed {seed}: a vertex {far:.1e} voxel from Flying Edges'"


def test_out_of_gpu_memory_is_explained(tiny_experiment, tmp_path, monkeypatch, capsys):
    import core.cli as cli

    def exhausted(_args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB (GPU 0; 7.6 GiB total)\nmore")

    monkeypatch.setattr(cli, "cmd_mesh", exhausted)
    assert main(["mesh", str(tiny_experiment / "bundle.safetensors"), "-o", str(tmp_path / "m.ply")]) == 1
    err = capsys.readouterr().err
    assert "out of GPU memory (CUDA out of memory. Tried to allocate 8.00 GiB" in err and "more" not in err
    assert "CUDA_VISIBLE_DEVICES=" in err and not (tmp_path / "m.ply").exists()
