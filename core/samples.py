"""Meshes -> SDF samples in the official DeepSDF data layout.

Layout under a data folder (as the official preprocessor writes it)::

    SdfSamples/<dataset>/<class>/<instance>.npz              pos (sdf > 0), neg (sdf <= 0): float32 (n, 4)
    NormalizationParameters/<dataset>/<class>/<instance>.npz offset (3,), scale (1,)
    SurfaceSamples/<dataset>/<class>/<instance>.ply          30,000 surface points, original frame
    splits/<class>_train.json, splits/<class>_test.json      {dataset: {class: [instances]}}

Signed distance is exact: the unsigned distance to the triangles (libigl AABB tree) with the sign
from the winding number, which is robust on watertight meshes. Negative inside.
"""
from __future__ import annotations

import json
import os
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import igl
import numpy as np
import trimesh
from tqdm import tqdm

from .fileio import DataError, atomic_write

MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf")
SURFACE_POINTS = 30_000


def normalize(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, np.ndarray, float]:
    """Map a mesh into the unit sphere the official way; returns (mesh, offset, scale).

    centre = midpoint of the bounding box of the vertices used by faces, r = largest distance of a
    vertex from it, normalised = (x + offset) * scale with offset = -centre, scale = 1 / (1.03 r).
    """
    used = mesh.vertices[np.unique(mesh.faces)]
    centre = (used.min(0) + used.max(0)) / 2
    radius = np.linalg.norm(used - centre, axis=1).max()
    if not np.isfinite(radius) or radius <= 0:
        raise ValueError("mesh has no extent")
    offset = -centre
    scale = 1.0 / (1.03 * radius)
    out = mesh.copy()
    out.vertices = (mesh.vertices + offset) * scale
    return out, offset.astype(np.float32), float(scale)


def signed_distance(mesh: trimesh.Trimesh, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact distance to the mesh, negative inside; also the winding numbers used for the sign."""
    V = np.ascontiguousarray(mesh.vertices, dtype=np.float64)
    F = np.ascontiguousarray(mesh.faces, dtype=np.int64)
    P = np.ascontiguousarray(points, dtype=np.float64)
    sq, _, _ = igl.point_mesh_squared_distance(P, V, F)
    w = igl.fast_winding_number(V, F, P)
    dist = np.sqrt(sq)
    return np.where(np.abs(w) > 0.5, -dist, dist), w


def sample_near_surface(mesh: trimesh.Trimesh, count: int, rng: np.random.Generator,
                        variances=(0.005, 0.0005), uniform_share: float = 0.06) -> np.ndarray:
    """The official sampling: surface points perturbed twice (two Gaussian variances) plus a
    uniform share in [-1, 1]^3. Returns (count, 3) points in the normalised frame."""
    n_uniform = int(round(count * uniform_share))
    n_surface = (count - n_uniform) // len(variances)
    surface, _ = trimesh.sample.sample_surface(mesh, n_surface, seed=int(rng.integers(2**31)))
    parts = [surface + rng.normal(scale=np.sqrt(v), size=surface.shape) for v in variances]
    n_uniform = count - n_surface * len(variances)
    parts.append(rng.uniform(-1, 1, size=(n_uniform, 3)))
    return np.concatenate(parts).astype(np.float64)


def write_sdf_npz(path: Path, points: np.ndarray, sdf: np.ndarray) -> None:
    rows = np.column_stack([points, sdf]).astype(np.float32)
    pos, neg = rows[rows[:, 3] > 0], rows[rows[:, 3] <= 0]
    atomic_write(path, lambda tmp: np.savez(tmp, pos=pos, neg=neg))


def read_sdf_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Load an official SdfSamples file; NaN rows are dropped (as the official loader does)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing SDF samples file: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "pos" not in npz or "neg" not in npz:
                raise DataError(f"{path}: expected arrays 'pos' and 'neg', found {sorted(npz.files)}")
            pos, neg = npz["pos"], npz["neg"]
    except DataError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable npz file ({e})") from e
    out = []
    for key, arr in (("pos", pos), ("neg", neg)):
        if arr.ndim != 2 or arr.shape[1] != 4 or not np.issubdtype(arr.dtype, np.floating):
            raise DataError(f"{path}: '{key}' must be a float (n, 4) array of x, y, z, sdf; got {arr.dtype} {arr.shape}")
        arr = arr.astype(np.float32, copy=False)
        out.append(arr[np.isfinite(arr).all(1)])
    if len(out[0]) == 0 or len(out[1]) == 0:
        raise DataError(f"{path}: needs samples both outside (pos) and inside (neg); "
                        f"found {len(out[0])} pos and {len(out[1])} neg finite rows")
    return out[0], out[1]


def ground_truth_points(data_dir: str | Path, ds: str, cls: str, inst: str) -> np.ndarray:
    """SurfaceSamples of a shape (original frame) mapped into its normalised, unit-sphere frame."""
    data_dir = Path(data_dir)
    pts = np.asarray(trimesh.load(data_dir / "SurfaceSamples" / ds / cls / f"{inst}.ply").vertices)
    with np.load(data_dir / "NormalizationParameters" / ds / cls / f"{inst}.npz") as npz:
        return (pts + npz["offset"]) * float(npz["scale"][0])


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    path = Path(path)
    try:
        mesh = trimesh.load(path, force="mesh", process=True)
    except Exception as e:  # trimesh raises assorted types for broken files
        raise DataError(f"{path}: cannot read mesh ({type(e).__name__}: {e})") from e
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise DataError(f"{path}: contains no triangles")
    return mesh


def find_meshes(mesh_dir: str | Path) -> dict[str, Path]:
    """Instance name -> mesh file: ``<stem>.<ext>`` files, or ShapeNet ``<id>/models/model_normalized.obj``."""
    mesh_dir = Path(mesh_dir)
    if not mesh_dir.is_dir():
        raise FileNotFoundError(f"mesh folder not found: {mesh_dir}")
    found: dict[str, Path] = {}
    for path in sorted(mesh_dir.rglob("*")):
        if path.suffix.lower() not in MESH_SUFFIXES or not path.is_file():
            continue
        if path.name == "model_normalized.obj" and path.parent.name == "models":
            found[path.parent.parent.name] = path
        elif path.parent == mesh_dir:
            found[path.stem] = path
    return found


@dataclass(frozen=True)
class PrepareJob:
    name: str
    mesh_path: Path
    out_dir: Path
    dataset: str
    category: str
    count: int
    test: bool
    seed: int

    def path(self, kind: str, suffix: str) -> Path:
        return self.out_dir / kind / self.dataset / self.category / f"{self.name}{suffix}"


def prepare_one(job: PrepareJob) -> str | None:
    """Sample one mesh; returns None on success or the reason it was skipped."""
    npz_path = job.path("SdfSamples", ".npz")
    if npz_path.exists():
        return None
    try:
        mesh = load_mesh(job.mesh_path)
    except DataError as e:
        return str(e)
    if not mesh.is_watertight:
        return f"{job.mesh_path}: mesh is not watertight, the sign of the distance is undefined"
    normed, offset, scale = normalize(mesh)
    rng = np.random.default_rng([job.seed, sum(map(ord, job.name))])
    variances = (0.05, 0.0005) if job.test else (0.005, 0.0005)
    points = sample_near_surface(normed, job.count, rng, variances)
    sdf, w = signed_distance(normed, points)
    ambiguous = np.mean(np.abs(np.abs(w) - 0.5) < 0.4)
    if ambiguous > 1e-3:
        return f"{job.mesh_path}: inside/outside is ambiguous for {ambiguous:.1%} of samples (self-intersecting mesh?)"
    surface, _ = trimesh.sample.sample_surface(mesh, SURFACE_POINTS, seed=int(rng.integers(2**31)))
    atomic_write(job.path("NormalizationParameters", ".npz"),
                 lambda tmp: np.savez(tmp, offset=offset, scale=np.array([scale], np.float32)))
    atomic_write(job.path("SurfaceSamples", ".ply"), lambda tmp: trimesh.PointCloud(surface).export(tmp))
    write_sdf_npz(npz_path, points, sdf)  # last: its presence marks the shape as done
    return None


def held_out(names: list[str], split_test: float, seed: int) -> set[str]:
    """The shapes ``prepare`` holds out for testing: a seeded draw of round(share x count) names."""
    order = np.random.default_rng(seed).permutation(len(names))
    return {sorted(names)[i] for i in order[: int(round(len(names) * split_test))]}


def prepare(mesh_dir: str | Path, out_dir: str | Path, split_test: float = 0.2, samples: int = 500_000,
            dataset: str = "synthetic", category: str | None = None, seed: int = 0, workers: int | None = None,
            progress: bool = True) -> dict:
    """Sample every mesh of ``mesh_dir`` into ``out_dir``; resumable, parallel across shapes.

    Returns {"train": [...], "test": [...], "skipped": {name: reason}}.
    """
    out_dir = Path(out_dir)
    meshes = find_meshes(mesh_dir)
    if not meshes:
        raise DataError(f"{mesh_dir}: no meshes ({', '.join(MESH_SUFFIXES)}) found")
    category = category or Path(mesh_dir).resolve().name
    names = sorted(meshes)
    test = held_out(names, split_test, seed)
    jobs = [PrepareJob(n, meshes[n], out_dir, dataset, category, samples if n not in test else samples // 2,
                       n in test, seed) for n in names]
    skipped: dict[str, str] = {}
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    with tqdm(total=len(jobs), desc="prepare", disable=not progress) as bar:
        if workers == 1:
            results = map(prepare_one, jobs)
        else:
            pool = ProcessPoolExecutor(workers)
            results = pool.map(prepare_one, jobs, chunksize=1)  # lazily yields: memory stays bounded
        for job, reason in zip(jobs, results):
            if reason:
                skipped[job.name] = reason
                tqdm.write(f"skipped {job.name}: {reason}")
            bar.update()
        if workers != 1:
            pool.shutdown()
    split = {"train": [n for n in names if n not in test and n not in skipped],
             "test": [n for n in names if n in test and n not in skipped]}
    for part, members in split.items():
        data = {dataset: {category: members}}
        atomic_write(out_dir / "splits" / f"{category}_{part}.json",
                     lambda tmp: tmp.write_text(json.dumps(data, indent=2)))
    sources = {n: str(meshes[n].resolve()) for n in names if n not in skipped}
    atomic_write(out_dir / "splits" / f"{category}_sources.json", lambda tmp: tmp.write_text(json.dumps(sources, indent=2)))
    return {**split, "skipped": skipped}
