"""The paper's experiments on a trained model: each writes a CSV, a Markdown table and PNG plots.

All distances are in the unit-sphere (normalised) frame; Chamfer follows the official convention and
tables print it x 1e3. Ground truth is the data folder's SurfaceSamples mapped into that frame.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh
from tqdm import tqdm

from core.model.bundle import Bundle

from core.data.samples import read_split
from core.scans.completion import complete
from core.fileio import DataError, atomic_write
from core.fit.latent import FitData, fit, nearest_code
from core.mesh.interpolate import CROSS_KIND, interpolate
from core.data.shapes import kinds
from core.mesh.meshing import SurfaceMesh, mesh_code
from .tables import write_table
from .metrics import (accuracy, chamfer, completion, emd, fscore, nearest_distances, normal_consistency, pieces,
                      sample_oriented, sample_surface)
from core.mesh.render import save_grid
from core.data.samples import ground_truth_points, load_mesh, normalize, read_sdf_npz
from core.scans.scan import Camera, Scan, back_project, look_at_pose, render_depth, sim3_scale, to_model_frame

TAU = 0.02  # F-score and completion threshold, unit-sphere frame (1 % of the sphere's diameter)


@dataclass
class Context:
    bundle: Bundle
    data_dir: Path
    out_dir: Path
    res: int = 128
    method: str = "lm"
    count: int | None = None  # shapes per experiment (None: all)
    scene_seed: int = 0  # draws the sensor scenes: 0 the ones tuned on, any other a set never seen

    def split(self, which: str, limit: bool = True) -> list[tuple[str, str, str]]:
        found = sorted((self.data_dir / "splits").glob(f"*_{which}.json"))
        if not found:
            raise FileNotFoundError(f"{self.data_dir / 'splits'}: no *_{which}.json split")
        entries = read_split(found[0])
        return entries[: self.count] if limit and self.count else entries

    def trained(self) -> list[tuple[str, str, str]]:
        """Every shape of the training split that the model holds a code for: a data folder may hold more
        (a larger run's), and "nearest training shape" means one the model was trained on."""
        held = set(self.bundle.latents.names)
        return [e for e in self.split("train", limit=False) if e[2] in held]

    def known(self) -> list[tuple[tuple[str, str, str], int]]:
        """The training split's shapes the model holds a code for, with the code's index; the others (a
        split that is not the one the model was trained on) are named in a warning."""
        index = {name: i for i, name in enumerate(self.bundle.latents.names)}
        entries = self.split("train")
        missing = [e[2] for e in entries if e[2] not in index]
        if missing:
            warnings.warn(f"{len(missing)} shape(s) of the training split have no code in the model, skipped: "
                          f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''} (was it trained on another split?)")
        if len(missing) == len(entries):
            raise DataError(f"{self.data_dir / 'splits'}: none of the training split's shapes has a code in the model")
        return [(e, index[e[2]]) for e in entries if e[2] in index]

    def truth(self, entry) -> np.ndarray:
        return ground_truth_points(self.data_dir, *entry)

    def mesh_path(self, entry) -> Path:
        sources = json.loads((self.data_dir / "splits" / f"{entry[1]}_sources.json").read_text())
        return Path(sources[entry[2]])

    def truth_mesh(self, entry) -> trimesh.Trimesh:
        """The shape's source mesh in its normalised frame (SurfaceSamples carry no normals)."""
        return normalize(load_mesh(self.mesh_path(entry)))[0]

    def metrics(self, mesh: SurfaceMesh, entry) -> dict:
        return shape_metrics(mesh, self.truth(entry), self.truth_mesh(entry))


def shape_metrics(mesh: SurfaceMesh, truth: np.ndarray, truth_mesh: trimesh.Trimesh | None = None) -> dict:
    """Chamfer, EMD, accuracy, completion, F-score against ground-truth points; with the ground-truth
    mesh also normal consistency."""
    if mesh.is_empty:
        row = {"chamfer": float("inf"), "emd": float("inf"), "accuracy": float("inf"), "completion": 0.0, "fscore": 0.0}
        return row if truth_mesh is None else {**row, "normal_consistency": 0.0}
    pts, normals = sample_oriented(mesh)
    row = {"chamfer": chamfer(pts, truth), "emd": emd(pts, truth), "accuracy": accuracy(pts, truth),
           "completion": completion(pts, truth, TAU), "fscore": fscore(pts, truth, TAU)}
    if truth_mesh is not None:
        row["normal_consistency"] = normal_consistency(pts, normals, *sample_oriented(truth_mesh, seed=1))
    return row


class TrainingShapes:
    """Ground-truth surface points of the training shapes, for 'which training shape is nearest?'."""

    def __init__(self, ctx: Context, points: int = 3000):
        self.names, self.points = [], []
        rng = np.random.default_rng(0)
        for entry in ctx.trained():
            p = ctx.truth(entry)
            self.names.append(entry[2])
            self.points.append(p[rng.choice(len(p), min(points, len(p)), replace=False)])

    def nearest(self, pts: np.ndarray) -> tuple[str, float]:
        if not self.points:  # a data folder of held-out shapes only
            return "-", float("nan")
        sub = pts[np.random.default_rng(1).choice(len(pts), min(3000, len(pts)), replace=False)]
        d = [chamfer(sub, p) for p in self.points]
        i = int(np.argmin(d))
        return self.names[i], float(d[i])


def _axes(size=(5.5, 3.5)):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size, dpi=100)


def _save(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    import matplotlib.pyplot as plt

    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp))
    plt.close(fig)
    return path


def _plot(path: Path, xs, series: dict, xlabel: str, ylabel: str, title: str) -> Path:
    fig, ax = _axes()
    for label, ys in series.items():
        ax.plot(xs, ys, marker="o", label=label)
    ax.legend()
    return _save(fig, ax, path, xlabel, ylabel, title)


# --- experiments ----------------------------------------------------------------------------------

def known_shapes(ctx: Context) -> Path:
    """Mesh the training codes and compare with the training shapes."""
    rows = []
    for entry, i in tqdm(ctx.known(), desc="known shapes"):
        mesh = mesh_code(ctx.bundle.decoder, ctx.bundle.code(i), ctx.res)
        rows.append({"shape": entry[2], **ctx.metrics(mesh, entry)})
    return write_table(rows, ctx.out_dir / "known_shapes", "Known shapes (training codes)",
                       f"Chamfer x1e3 (official), EMD, accuracy (90th pct), completion and F-score at {TAU}, normal consistency; mesh {ctx.res}^3.")


def unknown_shapes(ctx: Context) -> Path:
    """Fit codes to held-out shapes' SDF samples, mesh them, compare with the shapes."""
    rows = []
    for entry in tqdm(ctx.split("test"), desc="unknown shapes"):
        data = FitData.from_sdf(*read_sdf_npz(ctx.data_dir / "SdfSamples" / entry[0] / entry[1] / f"{entry[2]}.npz"))
        result = fit(ctx.bundle.decoder, data, ctx.method, init=ctx.bundle.latents.codes)
        mesh = mesh_code(ctx.bundle.decoder, result.code, ctx.res)
        rows.append({"shape": entry[2], **ctx.metrics(mesh, entry), "fit_s": result.seconds})
    return write_table(rows, ctx.out_dir / "unknown_shapes", f"Unknown shapes ({ctx.method} fit)",
                       f"Held-out shapes; Chamfer x1e3 (official); mesh {ctx.res}^3.")


def scan_of(mesh: trimesh.Trimesh, name: str, view=(30.0, 20.0), size=(320, 240)) -> Scan:
    camera = Camera.from_fov(*size)
    pose = look_at_pose(*view)
    return Scan(render_depth(mesh, camera, pose), camera, pose, name)


def shape_completion(ctx: Context, nearest: TrainingShapes | None = None) -> Path:
    """Complete held-out shapes from one rendered depth view."""
    nearest = nearest or TrainingShapes(ctx)
    rows = []
    for entry in tqdm(ctx.split("test"), desc="completion"):
        truth_mesh = ctx.truth_mesh(entry)  # read once: the scan is rendered from it and scored against it
        c = complete(ctx.bundle, scan_of(truth_mesh, entry[2]), ctx.method, ctx.res)
        m = shape_metrics(c.mesh, ctx.truth(entry), truth_mesh)
        name, d = nearest.nearest(sample_surface(c.mesh)) if not c.mesh.is_empty else ("-", float("inf"))
        rows.append({"shape": entry[2], **m, "nearest_training": name, "nearest_chamfer": d, "fit_s": c.result.seconds})
    return write_table(rows, ctx.out_dir / "completion", "Shape completion from one depth view",
                       "View azimuth 30, elevation 20; Chamfer x1e3 to the full shape; nearest training shape by Chamfer.")


def noise_sweep(ctx: Context, sigmas=(0.0, 0.005, 0.01, 0.02, 0.03), kind: str = "depth") -> Path:
    """Completion error as depth noise grows, next to the noisy scan's own error."""
    entries = ctx.split("test")[:3]
    scans = [(scan_of(ctx.truth_mesh(e), e[2]), ctx.truth(e)) for e in entries]
    rows = []
    for sigma in tqdm(sigmas, desc="noise sweep"):
        comp, own = [], []
        for k, (scan, truth) in enumerate(scans):
            c = complete(ctx.bundle, scan, ctx.method, ctx.res, noise=sigma, noise_kind=kind, seed=k)
            comp.append(shape_metrics(c.mesh, truth)["chamfer"])
            # the scan's own error: mean squared distance of its points to the surface, x2 as Chamfer sums two directions
            pts, normals, valid = back_project(c.scan.depth, c.scan.camera)  # as measured, before any denoising
            raw = to_model_frame(pts[valid], normals[valid], 0.0, c.scan.posed())[0]
            own.append(2 * float(np.mean(nearest_distances(raw, truth) ** 2)))
        rows.append({"sigma": sigma, "chamfer": float(np.mean(comp)), "scan_error": float(np.mean(own))})
    _plot(ctx.out_dir / "noise_sweep.png", [r["sigma"] for r in rows],
          {"completion Chamfer": [1e3 * r["chamfer"] for r in rows], "noisy scan error": [1e3 * r["scan_error"] for r in rows]},
          f"noise sigma ({kind})", "x1e3", "Completion under depth noise")
    return write_table(rows, ctx.out_dir / "noise_sweep", f"Noise sweep ({kind} noise)",
                       f"Mean over {len(scans)} held-out shapes. scan_error = 2 x mean squared distance of the noisy scan's points to the surface.")


def interpolation(ctx: Context, pairs: int = 20, nearest: TrainingShapes | None = None, shown: int = 5) -> Path:
    """Midpoints between random pairs of training codes: are they one piece (slivers under 0.1 % of the
    area ignored; the ends too, meshed the same way: a stretcher one or two voxels thick may break in
    either), how far from both ends and from the nearest training shape; the first ``shown`` pairs go
    into interpolation.png. A model of several kinds (``shapes.kinds``) adds up to ``shown`` pairs of the seed's
    example (``CROSS_KIND``: a four-legged chair to a one-seat sofa) and of a four-legged chair to a sofa, their
    paths at t = 0, 0.25, 0.5, 0.75, 1 in interpolation_kinds.png. ``ctx.count`` sets how many random pairs: 20 say little about a rate (the share that
    breaks depends on how many pairs join a swivel chair and a chair on legs; resources/README.md)."""
    pairs = ctx.count or pairs
    nearest = nearest or TrainingShapes(ctx)
    names = ctx.bundle.latents.names
    trained = {e[2]: e for e in ctx.trained()}  # the ends' truths are read when a pair needs them
    rng = np.random.default_rng(0)
    chosen = [("random", *rng.choice(len(names), 2, replace=False)) for _ in range(pairs)]
    by_kind = kinds(names)
    crossed = [(a, b) for a, b in (CROSS_KIND, (CROSS_KIND[0], "sofa")) if a in by_kind and b in by_kind]
    for a, b in crossed:  # a seating model: the seed's chair to a one-seat sofa, and to a sofa
        chosen += [(f"{a} - {b}", names.index(x), names.index(y)) for x, y in list(zip(by_kind[a], by_kind[b]))[:shown]]
    rows, pictures, across = [], [], []
    for pair, i, j in tqdm(chosen, desc="interpolation"):
        za, zb = ctx.bundle.code(int(i)), ctx.bundle.code(int(j))
        mid = mesh_code(ctx.bundle.decoder, interpolate(za, zb, 0.5), ctx.res)
        if mid.is_empty:
            continue
        ends = [mesh_code(ctx.bundle.decoder, z, ctx.res) for z in (za, zb)]
        pts = sample_surface(mid)
        name, d = nearest.nearest(pts)
        to = {end: chamfer(pts, ctx.truth(trained[names[k]])) if names[k] in trained else float("nan")
              for end, k in (("a", i), ("b", j))}
        if pair != "random":  # the path from one kind to the other, its midpoints shown
            across += [ends[0], *(mesh_code(ctx.bundle.decoder, interpolate(za, zb, t), ctx.res) for t in (0.25, 0.5, 0.75)), ends[1]]
        rows.append({"pair": pair, "a": names[i], "b": names[j], "pieces": pieces(mid), "pieces_a": pieces(ends[0]),
                     "pieces_b": pieces(ends[1]), "midpoint_to_a": to["a"], "midpoint_to_b": to["b"],
                     "nearest_training": name, "nearest_chamfer": d})
        if pair == "random" and len(pictures) < 3 * shown:
            pictures += [ends[0], mid, ends[1]]
    for grid, cols, path in ((pictures, 3, "interpolation.png"), (across, 5, "interpolation_kinds.png")):
        try:  # look at them: do midpoints look like chairs?
            if grid:
                save_grid(grid, ctx.out_dir / path, cols=cols, cell=200)
        except Exception as e:  # no display and no off-screen GL here: the table still stands
            warnings.warn(f"{path} not rendered ({type(e).__name__}: {e})")
    one = sum(r["pieces"] == 1 for r in rows)
    whole_ends = sum(r["pieces_a"] == r["pieces_b"] == 1 for r in rows)
    return write_table(rows, ctx.out_dir / "interpolation", "Interpolation midpoints",
                       f"{one} of {len(rows)} midpoints (t = 0.5) are one piece; both ends are, meshed the same way, "
                       f"in {whole_ends} of the pairs. Chamfer x1e3 of the midpoint to both ends and to the nearest "
                       "training shape (is the model copying?).")


def _rotation_error(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (degrees) between the rotations of two Sim(3) matrices."""
    ra, rb = a[:3, :3] / sim3_scale(a), b[:3, :3] / sim3_scale(b)
    return float(np.degrees(np.arccos(np.clip((np.trace(ra.T @ rb) - 1) / 2, -1, 1))))


def scene_rows(bundle: Bundle, meshes: list[trimesh.Trimesh], names: list[str], truths: list[np.ndarray], seed: int,
               res: int = 128, method: str = "lm", height: float | None = None) -> list[dict]:
    """Render the shapes (normalised meshes) in a sensor scene and complete each without its pose: found (a
    segment overlapping it with IoU >= 0.5), rotation, translation and scale error of the fitted Sim(3),
    Chamfer in the normalised frame against ``truths``, and the posed completion of the same view
    (ground-truth pose and mask) beside it, with both fits' times."""
    from core.scans.completion import fit_segment
    from core.scans.scene import render_scene
    from core.scans.segment import segment_scan

    render = render_scene(meshes, names, seed=seed)
    seg = segment_scan(render.depth, render.camera, seed=seed)
    _, normals, _ = back_project(render.depth, render.camera)
    rows = []
    for name, truth, obj in zip(names, truths, render.objects):
        truth_mask = render.labels == obj.label
        row = {"scene": seed, "shape": name, "objects": len(meshes), "found": False, "rot_err_deg": np.nan,
               "t_err_cm": np.nan, "scale_err_pct": np.nan, "chamfer": np.nan, "fit_s": np.nan, "unexplained": np.nan,
               "seen_through": np.nan, "height_m": np.nan, "check_score": np.nan}
        ious = [((seg.labels == s.label) & truth_mask).sum() / ((seg.labels == s.label) | truth_mask).sum()
                for s in seg.segments]
        if ious and max(ious) >= 0.5:
            segment = seg.segments[int(np.argmax(ious))]
            found = fit_segment(bundle, seg, segment, normals, res, height, warn=lambda m: None, camera=render.camera)
            check = found.check if seg.floor is not None else None
            M, gt = found.pose, obj.model_to_camera
            canonical = found.mesh.moved(np.linalg.inv(M))
            row.update(found=True, rot_err_deg=_rotation_error(M, gt), t_err_cm=100 * float(np.linalg.norm(M[:3, 3] - gt[:3, 3])),
                       scale_err_pct=100 * (found.scale / sim3_scale(gt) - 1),
                       chamfer=shape_metrics(canonical, truth)["chamfer"], fit_s=found.fit.seconds,
                       **({} if check is None else {"unexplained": check.unexplained, "seen_through": check.free_space,
                                                    "height_m": check.height, "check_score": check.score}))
        view = Scan(render.depth, render.camera, np.linalg.inv(obj.model_to_camera), name)
        posed = complete(bundle, view, method, res, mask=truth_mask)
        rows.append({**row, "posed_chamfer": shape_metrics(posed.mesh, truth)["chamfer"], "posed_s": posed.result.seconds})
    return rows


def scenes(ctx: Context, single: int = 20, multi: int = 10) -> Path:
    """Pose-free completion of held-out shapes in rendered sensor scenes (``scene_rows``): ``single``
    scenes with one shape, ``multi`` with 2-3, noise on; table and a plot against posed completion."""
    from core.scans.pose import model_height

    test = ctx.split("test", limit=False)
    rng = np.random.default_rng(ctx.scene_seed)
    height = model_height(ctx.bundle.decoder, ctx.bundle.latents.codes)
    count = (single, multi) if ctx.count is None else (min(single, ctx.count), min(multi, max(ctx.count // 2, 1)))
    rows = []
    for k in tqdm(range(sum(count)), desc="scenes"):
        shapes = 1 if k < count[0] else min(int(rng.integers(2, 4)), len(test))
        entries = [test[i] for i in rng.choice(len(test), shapes, replace=False)]
        rows += scene_rows(ctx.bundle, [ctx.truth_mesh(e) for e in entries], [e[2] for e in entries],
                           [ctx.truth(e) for e in entries], k + 1000 * ctx.scene_seed, ctx.res, ctx.method, height)
    return write_scenes(rows, ctx.out_dir, count)


def write_scenes(rows: list[dict], out_dir: Path, count: tuple[int, int]) -> Path:
    """``scenes``' table and plot from its rows (``count``: scenes with one shape, with 2-3)."""
    ok = [r for r in rows if r["found"] and r["rot_err_deg"] <= 20 and r["t_err_cm"] <= 5 and abs(r["scale_err_pct"]) <= 10]
    _scatter(out_dir / "scenes.png", rows)
    return write_table(rows, out_dir / "scenes", "Pose-free completion in sensor scenes",
                       f"{len(ok)} of {len(rows)} held-out shapes found and fitted within 20 deg, 5 cm and 10 % scale "
                       f"({count[0]} scenes with one shape, {count[1]} with 2-3; Kinect-like noise, intrinsics only). "
                       "rot_err_deg: angle between fitted and true rotation (yaw and tilt); scale_err_pct signed. "
                       "Chamfer x1e3 in the shape's normalised frame; posed_chamfer: completion of the same view given "
                       "the true pose and mask; fit_s, posed_s: the two fits' times (meshing apart).")


def _scatter(path: Path, rows: list[dict]) -> Path:
    """Pose-free against posed Chamfer, one dot per found shape."""
    found = [r for r in rows if r["found"]]
    x, y = [1e3 * r["posed_chamfer"] for r in found], [1e3 * r["chamfer"] for r in found]
    fig, ax = _axes((4.5, 4.5))
    ax.scatter(x, y, c=["tab:blue" if r["objects"] == 1 else "tab:orange" for r in found], s=18)
    top = max(x + y + [1.0]) * 1.1
    ax.plot([0, top], [0, top], color="grey", lw=0.8)
    ax.plot([0, top], [0, 1.5 * top], color="grey", lw=0.8, ls="--")
    ax.set(xlim=(0, top), ylim=(0, top))
    return _save(fig, ax, path, "posed completion, Chamfer x1e3", "pose-free, Chamfer x1e3",
                 "Scenes (blue: one chair, orange: 2-3)")


# --- real meshes: raw part soups, prepared here ----------------------------------------------------

UP_AXES = {"x": (1, 0, 0), "y": (0, 1, 0), "z": (0, 0, 1), "-x": (-1, 0, 0), "-y": (0, -1, 0), "-z": (0, 0, -1)}
YAWS = (0.0, 90.0, 180.0, 270.0)  # a real mesh's front is not known: the best fit of four turns about up


def up_axis(path: Path, up: dict[str, str]) -> str:
    """The file's up axis: ``up`` by instance name, else ModelNet's .off z-up, else ShapeNet's y-up."""
    return up.get(path.stem, "z" if path.suffix.lower() == ".off" else "y")


def _turn(up: str, yaw_deg: float) -> np.ndarray:
    """Rotation taking ``up`` to +y, then ``yaw_deg`` about +y."""
    a = np.array(UP_AXES[up], float)
    to_y = trimesh.geometry.align_vectors(a, [0.0, 1.0, 0.0])[:3, :3]
    yaw = trimesh.transformations.rotation_matrix(np.radians(yaw_deg), [0, 1, 0])[:3, :3]
    return yaw @ to_y


def prepare_real(path: Path, work: Path, up: str, samples: int = 250_000) -> tuple[dict, Path]:
    """Turn a raw mesh y-up and ``prepare`` it as a test shape (auto sign) into ``work`` (resumable).
    Returns prepare's report row and the data folder."""
    from core.data.samples import PrepareJob, prepare_one

    upright = work / "upright" / f"{path.stem}.ply"
    if not upright.is_file():
        mesh = load_mesh(path)
        mesh.vertices = mesh.vertices @ _turn(up, 0.0).T
        upright.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(upright, lambda tmp: mesh.export(tmp, file_type="ply"))
    job = PrepareJob(path.stem, upright, work, "real", "meshes", samples // 2, True, 0, "auto")
    return prepare_one(job), work


def real_shapes(ctx: Context, meshes: Path, up: dict[str, str] | None = None) -> Path:
    """Fit codes to real meshes ``prepare`` signs itself: one fixed protocol (the LM defaults, best of four
    yaws about up by final loss), Chamfer x1e3 against the mesh's outer surface (its SurfaceSamples), the
    nearest training shape, and completion from one depth render of the mesh turned as the fit chose. A
    mesh that cannot be prepared or fitted is a failure, infinite in the median, never left out. The nearest
    training shape is the one whose code is nearest: no training data needed."""
    from core.data.samples import find_meshes

    found = sorted(find_meshes(meshes).items())
    if not found:
        raise DataError(f"{meshes}: no meshes found")
    found = found[: ctx.count] if ctx.count else found
    work = ctx.out_dir / "real_shapes_data"
    rows = []
    for name, (_, path) in tqdm(found, desc="real shapes"):
        axis = up_axis(path, up or {})
        row = {"mesh": name, "up": axis, "sign": "", "yaw": np.nan, "chamfer": float("inf"),
               "completion_chamfer": float("inf"), "nearest_training": "-", "latent_distance": np.nan, "fit_s": np.nan,
               "failure": ""}
        try:
            report, data = prepare_real(path, work, axis)
            if report["status"] == "skipped":
                raise DataError(report["reason"])
            pos, neg = read_sdf_npz(data / "SdfSamples" / "real" / "meshes" / f"{name}.npz")
            truth = ground_truth_points(data, "real", "meshes", name)
            fits = []
            for yaw in YAWS:
                turn = _turn("y", yaw).astype(np.float32)
                turned = [np.column_stack([s[:, :3] @ turn.T, s[:, 3:]]) for s in (pos, neg)]
                fits.append((fit(ctx.bundle.decoder, FitData.from_sdf(*turned), ctx.method, init=ctx.bundle.latents.codes), yaw))
            result, yaw = min(fits, key=lambda f: f[0].losses[-1])
            turn = _turn("y", yaw)
            mesh = mesh_code(ctx.bundle.decoder, result.code, ctx.res)
            truth = truth @ turn.T
            truth_mesh = normalize(load_mesh(data / "upright" / f"{name}.ply"))[0]
            truth_mesh.vertices = truth_mesh.vertices @ turn.T
            c = complete(ctx.bundle, scan_of(truth_mesh, name), ctx.method, ctx.res)
            i, distance = nearest_code(ctx.bundle.latents.codes, result.code)
            row.update(sign=report.get("sign", ""), yaw=yaw, chamfer=shape_metrics(mesh, truth)["chamfer"],
                       completion_chamfer=shape_metrics(c.mesh, truth)["chamfer"],
                       nearest_training=ctx.bundle.latents.names[i], latent_distance=distance, fit_s=sum(f.seconds for f, _ in fits))
        except (DataError, ValueError, OSError) as e:
            row["failure"] = str(e)[:200]
        rows.append(row)
    failed = sum(bool(r["failure"]) for r in rows)
    return write_table(rows, ctx.out_dir / "real_shapes", "Real meshes (prepared here, fitted without their pose)",
                       f"{len(rows)} meshes from {meshes}, {failed} failed (infinite Chamfer). Signed by prepare's auto; "
                       f"code fitted ({ctx.method}) to {YAWS} degree turns about up, the lowest final loss kept; Chamfer "
                       f"x1e3 against the mesh's outer surface in the unit sphere; completion_chamfer: posed completion "
                       f"from one depth render (azimuth 30, elevation 20) of the turned mesh; mesh {ctx.res}^3.")


EXPERIMENTS = {"known": known_shapes, "unknown": unknown_shapes, "completion": shape_completion,
               "noise": noise_sweep, "interpolation": interpolation, "scenes": scenes}


def evaluate(bundle: Bundle, data_dir, out_dir, which=("known", "unknown", "completion", "noise", "interpolation"),
             res: int = 128, method: str = "lm", count: int | None = None, scene_seed: int = 0,
             meshes: str | Path | None = None, up: dict[str, str] | None = None, frames: str | Path | None = None,
             labels: str | Path | list | None = None) -> list[Path]:
    """Run the ``which`` experiments; real-shapes needs ``meshes`` (a folder of raw meshes, ``up`` axes by
    name), real needs ``frames`` (a folder of sensor folders, ``labels`` its chair boxes; ``real_frames``), and
    so does its sequence mode, real-sequence (``real_sequence``)."""
    from .real_frames import real
    from .real_sequence import real_sequence

    ctx = Context(bundle, Path(data_dir), Path(out_dir), res, method, count, scene_seed)
    for name in ("real", "real-sequence"):
        if name in which and frames is None:
            raise ValueError(f"--experiments {name} needs --frames DIR (a folder per sensor, each with a sensor.json)")
    if "real-sequence" in which and labels is None:
        raise ValueError("--experiments real-sequence needs --labels FILE (the chairs' boxes it is scored in)")
    runs = {**EXPERIMENTS, "real-shapes": lambda ctx: real_shapes(ctx, Path(meshes), up),
            "real": lambda ctx: real(ctx.bundle, frames, ctx.out_dir, labels, ctx.res, ctx.count),
            "real-sequence": lambda ctx: real_sequence(ctx.bundle, frames, ctx.out_dir, labels, ctx.res)}
    unknown = [w for w in which if w not in runs]
    if unknown:
        raise ValueError(f"unknown experiments {unknown}; choose from {', '.join(EXPERIMENTS)}")
    if "real-shapes" in which and meshes is None:
        raise ValueError("--experiments real-shapes needs --meshes DIR (a folder of raw meshes)")
    bad = {k: v for k, v in (up or {}).items() if v not in UP_AXES}
    if bad:
        raise ValueError(f"--up {bad}: an axis is one of {', '.join(UP_AXES)}")
    return [runs[w](ctx) for w in which]
