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

from core.fileio import DataError, atomic_write
from .sign import SoupReport, describe_mesh, soup_signed_distance

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
    """Any mesh file trimesh reads (OBJ with groups, quads and n-gons, PLY, OFF, STL, GLB/GLTF scenes
    flattened with their transforms) as one triangle mesh; a clear error naming the file otherwise."""
    path = Path(path)
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as e:  # trimesh raises assorted types for broken files
        raise DataError(f"{path}: cannot read mesh ({type(e).__name__}: {e})") from e
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise DataError(f"{path}: contains no triangles")
    if not np.isfinite(mesh.vertices[np.unique(mesh.faces)]).all():  # before processing drops those faces
        raise DataError(f"{path}: has NaN or infinite vertex coordinates")
    mesh.process()  # merge duplicate vertices: triangle soups (STL) become connected
    return mesh


def find_meshes(mesh_dir: str | Path) -> dict[str, tuple[str | None, Path]]:
    """Instance name -> (class, mesh file), in the layouts meshes come in:

    - ``<name>.<ext>`` directly in ``mesh_dir`` (class: None, the caller decides);
    - ShapeNetCore v2 ``SYNSET/MODEL/models/model_normalized.obj`` and v1 ``SYNSET/MODEL/model.obj``
      (instance MODEL, class SYNSET, as in the official split files), at any depth below ``mesh_dir``.
    """
    mesh_dir = Path(mesh_dir)
    if not mesh_dir.is_dir():
        raise FileNotFoundError(f"mesh folder not found: {mesh_dir}")
    found: dict[str, tuple[str | None, Path]] = {}
    for path in sorted(mesh_dir.rglob("*")):
        if path.suffix.lower() not in MESH_SUFFIXES or not path.is_file():
            continue
        if path.name == "model_normalized.obj" and path.parent.name == "models":
            found[path.parents[1].name] = (path.parents[2].name, path)
        elif path.name == "model.obj" and path.parent != mesh_dir:
            found[path.parent.name] = (path.parents[1].name, path)
        elif path.parent == mesh_dir:
            found[path.stem] = (None, path)
    return found


SIGNS = ("auto", "exact", "winding", "visibility")


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
    sign: str = "auto"

    def path(self, kind: str, suffix: str) -> Path:
        return self.out_dir / kind / self.dataset / self.category / f"{self.name}{suffix}"


def _sign(job: PrepareJob, normed: trimesh.Trimesh, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, SoupReport]:
    """Signed distances by the job's method; returns (sdf, mask of the faces that form the surface, report).
    Raises DataError when the mesh cannot get a sign."""
    report = describe_mesh(normed)
    method = job.sign
    if method == "auto":  # the exact path for one clean solid, the robust one for everything else
        clean = report.watertight and report.consistent_winding and report.parts == 1
        method = "exact" if clean else "auto"  # (closed parts may be flipped or intersect each other)
    if method == "exact":
        if not report.watertight:
            raise DataError(f"{job.mesh_path}: mesh is not watertight, the sign of the distance is undefined "
                            f"(--sign auto, winding or visibility handles open meshes)")
        sdf, w = signed_distance(normed, points)
        report.ambiguous = float(np.mean(np.abs(np.abs(w) - 0.5) < 0.4))
        report.inside, report.sign = float(np.mean(sdf < 0)), "exact"
        if report.ambiguous <= 1e-3:
            return sdf, np.ones(len(normed.faces), bool), report
        if job.sign == "exact":
            raise DataError(f"{job.mesh_path}: inside/outside is ambiguous for {report.ambiguous:.1%} of samples "
                            f"(self-intersecting mesh? --sign auto handles it)")
        method = "auto"
    sdf, outer, report = soup_signed_distance(normed, points, method, job.seed, report)
    if report.inside < 1e-3:
        raise DataError(f"{job.mesh_path}: encloses no volume by {report.sign} (open sheets, panels or tubes?): "
                        f"no sample is inside")
    return sdf, outer, report


def prepare_one(job: PrepareJob) -> dict:
    """Sample one mesh. Returns its report row: status prepared, kept (done before) or skipped (with why)."""
    row = {"instance": job.name, "class": job.category, "mesh": str(job.mesh_path), "status": "kept", "reason": ""}
    npz_path = job.path("SdfSamples", ".npz")
    if npz_path.exists():
        return row
    try:
        mesh = load_mesh(job.mesh_path)
        normed, offset, scale = normalize(mesh)
        rng = np.random.default_rng([job.seed, sum(map(ord, job.name))])
        variances = (0.05, 0.0005) if job.test else (0.005, 0.0005)
        points = sample_near_surface(normed, job.count, rng, variances)
        sdf, outer, report = _sign(job, normed, points)
    except (DataError, ValueError) as e:
        return {**row, "status": "skipped", "reason": str(e) if str(job.mesh_path) in str(e) else f"{job.mesh_path}: {e}"}
    surface_mesh = trimesh.Trimesh(mesh.vertices, mesh.faces[outer], process=False)  # no internal faces
    surface, _ = trimesh.sample.sample_surface(surface_mesh, SURFACE_POINTS, seed=int(rng.integers(2**31)))
    atomic_write(job.path("NormalizationParameters", ".npz"),
                 lambda tmp: np.savez(tmp, offset=offset, scale=np.array([scale], np.float32)))
    atomic_write(job.path("SurfaceSamples", ".ply"), lambda tmp: trimesh.PointCloud(surface).export(tmp))
    write_sdf_npz(npz_path, points, sdf)  # last: its presence marks the shape as done
    return {**row, "status": "prepared", **report.row()}


def held_out(names: list[str], split_test: float, seed: int) -> set[str]:
    """The shapes ``prepare`` holds out for testing: a seeded draw of round(share x count) names."""
    order = np.random.default_rng(seed).permutation(len(names))
    return {sorted(names)[i] for i in order[: int(round(len(names) * split_test))]}


REPORT = "prepare_report.csv"


def prepare(mesh_dir: str | Path, out_dir: str | Path, split_test: float = 0.2, samples: int = 500_000,
            dataset: str = "synthetic", category: str | None = None, seed: int = 0, workers: int | None = None,
            progress: bool = True, split: str | Path | None = None, test: bool = False, sign: str = "auto") -> dict:
    """Sample the meshes of ``mesh_dir`` into ``out_dir``; resumable, parallel across shapes.

    Without ``split``: every mesh found, a seeded share held out for testing, split files written.
    With ``split`` (an official split JSON): exactly the instances it lists, under its dataset and class
    names, as training shapes (or test shapes with ``test``: half the samples, wider noise, as the
    official preprocessor's --test); the split file is copied into ``out_dir/splits``.
    One bad mesh never stops the run: it is skipped, and named with its reason.
    Returns {"train": [...], "test": [...], "skipped": {name: reason}, "report": [rows]}; the rows also go
    to ``out_dir/prepare_report.csv`` (merged with earlier runs').
    """
    if sign not in SIGNS:
        raise ValueError(f"unknown sign method {sign!r} ({', '.join(SIGNS)})")
    out_dir = Path(out_dir)
    meshes = find_meshes(mesh_dir)
    if not meshes:
        raise DataError(f"{mesh_dir}: no meshes ({', '.join(MESH_SUFFIXES)}) found")
    skipped: dict[str, str] = {}
    if split is not None:

        entries = read_split(split)
        missing = [e for e in entries if e[2] not in meshes]
        for ds, cls, inst in missing:
            skipped[inst] = f"{split}: instance {inst} ({cls}) not found under {mesh_dir}"
        jobs = [PrepareJob(inst, meshes[inst][1], out_dir, ds, cls, samples // 2 if test else samples, test, seed, sign)
                for ds, cls, inst in entries if inst in meshes]
    else:
        default_class = category or Path(mesh_dir).resolve().name
        names = sorted(meshes)
        held = held_out(names, split_test, seed)
        jobs = [PrepareJob(n, meshes[n][1], out_dir, dataset, category or meshes[n][0] or default_class,
                           samples // 2 if n in held else samples, n in held, seed, sign) for n in names]
    rows = []
    workers = workers or min(max(len(jobs), 1), os.cpu_count() or 1)
    with tqdm(total=len(jobs), desc="prepare", disable=not progress) as bar:
        if workers == 1:
            results = map(prepare_one, jobs)
        else:
            pool = ProcessPoolExecutor(workers)
            results = pool.map(prepare_one, jobs, chunksize=1)  # lazily yields: memory stays bounded
        for job, row in zip(jobs, results):
            rows.append(row)
            if row["status"] == "skipped":
                skipped[job.name] = row["reason"]
                tqdm.write(f"skipped {job.name}: {row['reason']}")
            bar.update()
        if workers != 1:
            pool.shutdown()
    for name, reason in skipped.items():
        if not any(r["instance"] == name for r in rows):
            rows.append({"instance": name, "class": "", "mesh": "", "status": "skipped", "reason": reason})
    _write_report(out_dir / REPORT, rows)
    done = [j for j in jobs if j.name not in skipped]
    result = {"train": [j.name for j in done if not j.test], "test": [j.name for j in done if j.test],
              "skipped": skipped, "report": rows}
    if split is not None:
        out_dir.joinpath("splits").mkdir(parents=True, exist_ok=True)
        atomic_write(out_dir / "splits" / Path(split).name, lambda tmp: tmp.write_text(Path(split).read_text()))
        _write_sources(out_dir, done)
    else:
        _write_splits(out_dir, done, category or Path(mesh_dir).resolve().name)
    return result


def _write_splits(out_dir: Path, jobs: list[PrepareJob], name: str) -> None:
    """splits/<name>_{train,test}.json (official layout) and <class>_sources.json (mesh of each instance)."""
    classes = sorted({j.category for j in jobs}) or [name]
    stem = classes[0] if len(classes) == 1 else name
    for part, is_test in (("train", False), ("test", True)):
        data = {}
        for j in jobs:
            if j.test == is_test:
                data.setdefault(j.dataset, {}).setdefault(j.category, []).append(j.name)
        if not data:
            data = {jobs[0].dataset if jobs else "synthetic": {stem: []}}
        atomic_write(out_dir / "splits" / f"{stem}_{part}.json", lambda tmp: tmp.write_text(json.dumps(data, indent=2)))
    _write_sources(out_dir, jobs)


def _write_sources(out_dir: Path, jobs: list[PrepareJob]) -> None:
    """splits/<class>_sources.json: the mesh each instance was sampled from (what ``evaluate`` compares
    normals and renders scenes with), merged with an earlier run's, so a split prepared in parts keeps all."""
    for cls in sorted({j.category for j in jobs}):
        path = out_dir / "splits" / f"{cls}_sources.json"
        sources = json.loads(path.read_text()) if path.is_file() else {}
        sources.update({j.name: str(j.mesh_path.resolve()) for j in jobs if j.category == cls})
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(sources, indent=2)))


def _write_report(path: Path, rows: list[dict]) -> None:
    """Per-mesh CSV: new rows replace those of the same instance; kept shapes keep their earlier row."""
    import csv

    merged: dict[str, dict] = {}
    if path.is_file():
        with open(path, newline="") as fh:
            merged = {r["instance"]: r for r in csv.DictReader(fh)}
    for r in rows:
        if r["status"] != "kept" or r["instance"] not in merged:
            merged[r["instance"]] = r
    keys = ["instance", "class", "mesh", "status", "reason", *SoupReport.__dataclass_fields__]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, keys, extrasaction="ignore", lineterminator="\n")
            w.writeheader()
            w.writerows(merged.values())

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write)


def read_split(path: str | Path) -> list[tuple[str, str, str]]:
    """Official split JSON -> [(dataset, class, instance)] in file order."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        return [(ds, cls, inst) for ds, classes in data.items() for cls, insts in classes.items() for inst in insts]
    except FileNotFoundError:
        raise FileNotFoundError(f"missing split file: {path}") from None
    except (json.JSONDecodeError, AttributeError, TypeError) as e:
        raise DataError(f"{path}: not an official split file {{dataset: {{class: [instances]}}}} ({e})") from e
