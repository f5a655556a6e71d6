"""Pose-free completion measured on real sensor frames: ``evaluate --experiments real --frames DIR``.

A frames folder holds one sub-folder per sensor, each with a ``sensor.json`` (intrinsics, depth files and
units, as ``../shared/realdata/frames`` lays them out); a labels JSON gives hand-drawn pixel boxes of the
chairs per frame. Every frame is completed as ``complete --all-objects`` would, and scored:

- chairs found: a labelled chair matched by a fitted object whose projected mesh box (clipped to the
  image) has IoU >= 0.4 with the label's and whose height is 0.6-1.3 m;
- false chairs: accepted objects (not reported as "not a chair", ``scans.check``) whose box has IoU < 0.2
  with every labelled chair (labelled frames only);
- per labelled chair, the share of its observed points within 2 cm of the fitted surface (0 if not found): the
  object points of its pixel box, and of those only the ones in its world-frame box where the labels give one
  and the frame has a pose (a kitchen chair's box also holds the table's leg), measured to the triangles;
- per fitted object, the share of its surface seen in front of the observed depth by more than 3 cm (it
  fills space the sensor saw through: a free-space violation, ``scans.check.seen_through``);
- seconds per frame. A frame whose completion raises is a crash, named with its error.
"""
from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.fileio import DataError
from core.mesh.meshing import export_mesh
from core.model.bundle import Bundle
from core.scans.sensor_json import NAME as SENSOR_JSON, read_sensor

FOUND_IOU, FALSE_IOU = 0.4, 0.2
CHAIR_HEIGHT = (0.6, 1.3)  # m
NEAR = 0.02  # m: an observed point explained by the fit


@dataclass
class Frame:
    key: str  # "<folder>/<file>", as labels.json names it
    path: Path
    intrinsics: dict
    per_metre: float | None
    depth_format: str | None


def find_frames(root: str | Path) -> list[Frame]:
    """Every depth file the ``sensor.json`` of each sub-folder of ``root`` names (its ``files`` glob, and
    a ``converted`` copy's), with the folder's intrinsics and depth units."""
    root = Path(root)
    sensors = [read_sensor(p.parent) for p in sorted(root.glob(f"*/{SENSOR_JSON}"))]
    if not sensors:
        raise DataError(f"{root}: no */{SENSOR_JSON} (a folder per sensor, laid out like ../shared/realdata/frames)")
    return [Frame(f"{s.folder.name}/{path.relative_to(s.folder).as_posix()}", path, s.intrinsics, part.per_metre,
                  part.depth_format) for s in sensors for path, part in s.depth_files()]


def _box(uv: np.ndarray, width: int, height: int) -> np.ndarray | None:
    """[x0, y0, x1, y1] of projected points (n, 2), clipped to the image; None if none falls in it."""
    if not len(uv):
        return None
    lo = np.clip(uv.min(0), 0, [width, height])
    hi = np.clip(uv.max(0), 0, [width, height])
    return None if (hi <= lo).any() else np.concatenate([lo, hi])


def iou(a, b) -> float:
    if a is None or b is None:
        return 0.0
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def chair_points(seg, box) -> np.ndarray:
    """A labelled chair's observed points: valid points inside its box that belong to an object (not the
    floor, walls or support planes), within 0.5 m in depth of their median (not what stands behind)."""
    x0, y0, x1, y1 = (int(round(c)) for c in box)
    labels = seg.labels[y0:y1, x0:x1]
    pts = seg.points[y0:y1, x0:x1][labels > 0]
    pts = pts[np.isfinite(pts).all(1)]
    if not len(pts):
        return pts
    return pts[np.abs(pts[:, 2] - np.median(pts[:, 2])) < 0.5]


def read_labels(paths: str | Path | list) -> tuple[dict, dict]:
    """The frames' chair labels and the world-frame boxes of ``paths`` (one labels JSON or several, read in
    order): a later file adds its chairs to an earlier file's frames and its boxes to its folders, so a
    user's own boxes extend a dataset's labels without copying it. Returns (frames, world_boxes)."""
    frames, world_boxes = {}, {}
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        try:
            everything = json.loads(Path(path).read_text())
            for key, entry in everything["frames"].items():
                merged = frames.setdefault(key, {**entry, "chairs": []})
                merged["chairs"] = merged["chairs"] + list(entry.get("chairs", []))
            for folder, boxes in everything.get("world_boxes", {}).items():
                world_boxes[folder] = world_boxes.get(folder, []) + list(boxes)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise DataError(f"{path}: unreadable labels (a JSON with 'frames': {{frame: {{chairs: [...]}}}}): {e}") from e
    return frames, world_boxes


def in_view(entry: dict | None) -> list[tuple[int, dict]]:
    """A frame's labelled chairs with at least half of them in view, with their index in its list: the chairs
    the held-out-view and sequence checks fit and score (one half hidden behind a table is neither)."""
    return [(k, c) for k, c in enumerate((entry or {}).get("chairs", [])) if c.get("in_view_half", True)]


def in_world_box(points_world: np.ndarray, box: dict) -> np.ndarray:
    """Which points lie in an oriented world-frame box (labels.json ``world_boxes``: centre, axes as rows,
    half extents)."""
    local = (points_world - np.asarray(box["centre"])) @ np.asarray(box["axes"]).T
    return np.all(np.abs(local) <= np.asarray(box["half_extents"]), axis=1)


def boxed_chair_points(seg, chair: dict, camera_to_world: np.ndarray | None, world_boxes: list[dict],
                       index: int) -> np.ndarray:
    """A labelled chair's observed points (``chair_points``, camera frame), those inside its oriented world-frame
    boxes where the labels give them (``in_world_box``): its pixel box may also hold a table's leg. A box with a
    ``chair`` key is the box of that chair of a frame's list only (``index``: this chair's place in it)."""
    pts = chair_points(seg, chair["box"])
    world_boxes = [b for b in world_boxes if b.get("chair", index) == index]
    if not world_boxes or not len(pts) or camera_to_world is None:
        return pts
    world = pts @ camera_to_world[:3, :3].T + camera_to_world[:3, 3]
    return pts[np.any([in_world_box(world, b) for b in world_boxes], axis=0)]


def frame_stem(key: str | Path) -> str:
    """A frame's name without folder or extensions: 7scenes_redkitchen/frame-000000.depth.png -> frame-000000."""
    return Path(key).name.split(".")[0]


def frame_file(root: Path, key: str, suffix: str) -> Path:
    """Where a frame's output goes: <root>/<its folder>/<its stem><suffix>."""
    return root / key.split("/", 1)[0] / f"{frame_stem(key)}{suffix}"


def chair_mesh(mesh_dir: Path, key: str, chair: int) -> Path:
    """Where ``frame_rows`` keeps a labelled chair's fit (camera frame): <folder>/<frame>_chair<k>.ply."""
    return frame_file(mesh_dir, key, f"_chair{chair}.ply")


def observed_within(seen: np.ndarray, mesh, near: float = NEAR) -> float:
    """The share of observed points within ``near`` of a fitted mesh's surface: its triangles, not samples of
    them (5,000 samples of a chair lie ~2 cm apart, and a point on the surface was counted as far one time in
    ten). 0 for no points or an empty mesh."""
    from core.evaluation.metrics import surface_distances

    if not len(seen) or mesh.is_empty:
        return 0.0
    return float(np.mean(surface_distances(seen, np.asarray(mesh.vertices), np.asarray(mesh.faces)) < near))


def frame_rows(bundle: Bundle, frame: Frame, labels: dict | None, res: int, out_dir: Path | None = None,
               camera_to_world: np.ndarray | None = None, world_boxes: list[dict] = ()) -> tuple[dict, list[dict]]:
    """Complete one frame (all whole objects) and score it; returns the frame's row and one per chair. With
    ``out_dir``, each labelled chair's matched fit is written to its meshes/ in the camera frame (``chair_mesh``)
    and the frame's picture to its pictures/ (``frame_picture``). With the frame's pose, a chair's observed
    points are those in its world box too (``boxed_chair_points``)."""
    from core.evaluation.metrics import sample_surface
    from core.scans.check import seen_through
    from core.scans.completion import complete_scene
    from core.scans.scan import load_scan

    t0 = time.perf_counter()
    scan = load_scan(frame.path, camera=frame.intrinsics, depth_scale=frame.per_metre, depth_format=frame.depth_format)
    seg, found = complete_scene(bundle, scan, "all", res, warn=lambda m: None)
    seconds = time.perf_counter() - t0
    cam = scan.camera
    up = None if seg.floor is None else seg.floor.normal
    objects, rejected = [], []
    for obj in found:
        if obj.check is not None and not obj.check.known:  # reported as not a chair: not an accepted object
            rejected.append(obj)
            continue
        verts = np.asarray(obj.mesh.vertices) if not obj.mesh.is_empty else np.zeros((0, 3))
        uv, _ = cam.project(verts)
        height = float(np.ptp(verts @ up)) if up is not None and len(verts) else float("nan")
        surface = sample_surface(obj.mesh, 5000) if not obj.mesh.is_empty else np.zeros((0, 3))
        objects.append({"mesh": obj.mesh, "box": _box(uv, cam.width, cam.height), "height": height, "surface": surface,
                        "violation": seen_through(surface, seg.points, cam)})
    chairs = (labels or {}).get("chairs", [])
    chair_rows = []
    for k, chair in enumerate(chairs):
        scores = [iou(o["box"], chair["box"]) for o in objects]
        match = [i for i, s in enumerate(scores) if s >= FOUND_IOU and CHAIR_HEIGHT[0] <= objects[i]["height"] <= CHAIR_HEIGHT[1]]
        best = max(match, key=lambda i: scores[i], default=None)
        seen = boxed_chair_points(seg, chair, camera_to_world, world_boxes, k)
        near = 0.0
        if best is not None and out_dir is not None:
            export_mesh(objects[best]["mesh"], chair_mesh(out_dir / "meshes", frame.key, k))
        if best is not None:
            objects[best]["chair"] = True
        if best is not None:
            near = observed_within(seen, objects[best]["mesh"])
        chair_rows.append({"frame": frame.key, "chair": k, "in_view_half": bool(chair.get("in_view_half", True)),
                           "found": best is not None, "best_iou": max(scores, default=0.0),
                           "height_m": objects[best]["height"] if best is not None else float("nan"),
                           "observed_within_2cm": near, "observed_points": len(seen)})
    for o in objects:
        o["false"] = labels is not None and all(iou(o["box"], c["box"]) < FALSE_IOU for c in chairs)
    false = sum(o["false"] for o in objects) if labels is not None else None
    if out_dir is not None:
        frame_picture(scan, chairs, objects, rejected, frame_file(out_dir / "pictures", frame.key, ".png"))
    rejected = len(rejected)
    row = {"frame": frame.key, "crash": "", "objects": len(objects), "rejected": rejected, "labelled_chairs": len(chairs) if labels is not None else None,
           "found": sum(r["found"] for r in chair_rows), "false_chairs": false,
           "free_space_violation": float(np.median([o["violation"] for o in objects])) if objects else float("nan"),
           "seconds": seconds, "seconds_per_object": seconds / max(len(objects) + rejected, 1)}
    return row, chair_rows


def frame_picture(scan, chairs: list[dict], objects: list[dict], rejected: list, path: Path) -> None:
    """A frame's depth in grey with the labelled chairs' boxes (yellow) and the outline of every fitted object:
    green where it found a labelled chair, red where it is a false chair, blue otherwise (a frame without
    labels), grey dashed with its score where the check said it is not what the model knows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from core.scans.scan import render_depth

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.imshow(scan.depth, cmap="gray", vmin=0.3, vmax=5.0)
    for c in chairs:
        x0, y0, x1, y1 = c["box"]
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="#e8c31c", lw=1.5, ls="--"))
    outlined = [(o["mesh"], "#2ca02c" if o.get("chair") else "#d62728" if o["false"] else "#1f77b4", "solid", "")
                for o in objects] + [(o.mesh, "#8c8c8c", "dashed", f"{o.check.score:.2f}") for o in rejected]
    for mesh, color, style, text in outlined:
        if mesh.is_empty:
            continue
        silhouette = np.isfinite(render_depth(mesh.to_trimesh(), scan.camera, np.eye(4)))
        if silhouette.any():
            ax.contour(silhouette, levels=[0.5], colors=color, linewidths=1.5, linestyles=style)
            if text:
                v, u = np.nonzero(silhouette)
                ax.text(u.mean(), v.min(), text, color="white", fontsize=8, ha="center", va="bottom",
                        bbox={"fc": color, "ec": "none", "alpha": 0.8, "pad": 1})
    ax.set_axis_off()
    fig.tight_layout(pad=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- the held-out-view check -----------------------------------------------------------------------------
# The real-frame evaluation's held-out-view check: does one frame's completion explain what that frame never saw?
#
# In a sensor folder with camera poses, the labelled frames where at least half a chair is in view make a pass
# (the 7-Scenes kitchen's frames 0-90). The chair fitted in each of them (``frame_rows`` keeps its
# mesh) is moved with the poses into every other frame of the pass. There, the chair's points (its labelled
# pixel box, objects only, inside its oriented world-frame box of labels.json's ``world_boxes``: not the floor,
# a support plane or the table's leg beside it) that lie farther than ``UNSEEN`` from every point the fitting
# frame saw of it are what the input never saw; the held-out-view coverage of the pair is the share of them
# within ``COVERED`` of the fitted surface. A chair not found in the fitting frame covers nothing (0).

UNSEEN = 0.03  # m: a held-out point this far from every point the fitting frame saw, the input never saw
COVERED = 0.03  # m: ...and explained by the fit within this
LEAST_UNSEEN = 50  # points: a pair with fewer unseen points says nothing (the frames saw the same side)


def world_chair_points(frame: Frame, boxes: list[dict], pose: np.ndarray, labels: dict) -> np.ndarray:
    """The labelled chair's observed points of a frame in the poses' world frame, inside ``boxes``."""
    from core.scans.scan import load_scan
    from core.scans.segment import segment_scan

    scan = load_scan(frame.path, camera=frame.intrinsics, depth_scale=frame.per_metre, depth_format=frame.depth_format)
    seg = segment_scan(scan.depth, scan.camera, source=str(frame.path))
    found = [boxed_chair_points(seg, chair, pose, boxes, k) for k, chair in in_view(labels)]
    pts = np.concatenate(found) if found else np.zeros((0, 3))
    return pts @ pose[:3, :3].T + pose[:3, 3]


def frame_poses(frames: list[Frame], world_boxes: dict) -> dict[Path, np.ndarray]:
    """Camera-to-world poses of the frames in folders that have world boxes and pose files (``find_poses``)."""
    from core.scans.sequence import find_poses, pose_frames

    poses = {}
    for folder in {f.path.parent for f in frames if f.path.parent.name in world_boxes}:
        try:
            found = pose_frames([f.path for f in frames if f.path.parent == folder], find_poses(folder), warn=lambda m: None)
        except DataError:
            continue
        poses.update({p.path: p.camera_to_world for p in found})
    return poses


def held_out_views(frames: list[Frame], labels: dict, world_boxes: dict, mesh_dir: Path) -> list[dict]:
    """One row per (fitting frame, held-out frame) pair of every posed pass with world boxes (above)."""
    import trimesh
    from scipy.spatial import cKDTree

    from core.evaluation.metrics import surface_distances

    by_folder: dict[Path, list[Frame]] = {}
    for frame in frames:
        if in_view(labels.get(frame.key)) and frame.path.parent.name in world_boxes:
            by_folder.setdefault(frame.path.parent, []).append(frame)
    rows = []
    for folder, group in by_folder.items():
        poses = frame_poses(group, world_boxes)
        group = [f for f in group if f.path in poses]
        boxes = world_boxes[folder.name]
        seen = {f.key: world_chair_points(f, boxes, poses[f.path], labels[f.key]) for f in group}
        for fit in group:
            meshes = [chair_mesh(mesh_dir, fit.key, k) for k, _ in in_view(labels[fit.key])]
            meshes = [trimesh.load(m, process=False) for m in meshes if m.is_file()]
            mesh = trimesh.util.concatenate(meshes).apply_transform(poses[fit.path]) if meshes else None
            tree = cKDTree(seen[fit.key]) if len(seen[fit.key]) else None
            for held in group:
                if held is fit:
                    continue
                pts = seen[held.key]
                unseen = pts if tree is None else pts[tree.query(pts, distance_upper_bound=UNSEEN)[0] > UNSEEN]
                if len(unseen) < LEAST_UNSEEN:
                    continue
                covered = 0.0
                if mesh is not None and len(mesh.faces):
                    covered = float(np.mean(surface_distances(unseen, mesh.vertices, mesh.faces) <= COVERED))
                rows.append({"folder": folder.name, "fitted_in": frame_stem(fit.key),
                             "held_out": frame_stem(held.key), "found": mesh is not None,
                             "unseen_points": len(unseen), "held_out_view_coverage": covered})
    return rows


def real(bundle: Bundle, frames_dir: str | Path, out_dir: str | Path, labels_path: str | Path | None = None,
         res: int = 64, count: int | None = None) -> Path:
    """Run ``frame_rows`` on every frame of ``frames_dir`` and write real.csv / real.md (per frame, per
    labelled chair, and the totals against the targets), each frame's picture (``frame_picture``) and its chairs'
    fits (meshes/; ``held_out_views`` reads them). Each frame done is kept in real_frames.jsonl as it
    finishes: a stopped run (minutes per frame on two cores) resumes after the frames it has."""
    from .tables import write_table

    frames = find_frames(frames_dir)[:count] if count else find_frames(frames_dir)
    labels, world_boxes = read_labels(labels_path) if labels_path is not None else ({}, {})
    poses = frame_poses(frames, world_boxes)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done_path = out_dir / "real_frames.jsonl"  # one line per frame done: a stopped run resumes after them
    done = {}
    if done_path.is_file():
        for line in done_path.read_text().splitlines():
            try:
                entry = json.loads(line)
                done[entry["row"]["frame"]] = entry
            except (ValueError, KeyError):
                continue  # a line cut short by a stop: that frame runs again
    rows, chairs = [], []
    for frame in tqdm(frames, desc="real frames"):
        if frame.key in done:
            rows.append(done[frame.key]["row"])
            chairs += done[frame.key]["chairs"]
            continue
        try:
            row, chair_rows = frame_rows(bundle, frame, labels.get(frame.key) if labels_path else None, res, out_dir,
                                         poses.get(frame.path), world_boxes.get(frame.path.parent.name, []))
        except Exception as e:  # measured, not hidden: every crash is a row, named with its error
            row = {"frame": frame.key, "crash": f"{type(e).__name__}: {e}"[:300], "objects": 0, "rejected": 0, "labelled_chairs": None,
                   "found": 0, "false_chairs": None, "free_space_violation": float("nan"), "seconds": float("nan"),
                   "seconds_per_object": float("nan")}
            chair_rows = [{"frame": frame.key, "chair": k, "in_view_half": bool(c.get("in_view_half", True)), "found": False,
                           "best_iou": 0.0, "height_m": float("nan"), "observed_within_2cm": 0.0, "observed_points": 0}
                          for k, c in enumerate((labels.get(frame.key) or {}).get("chairs", []))]
            traceback.print_exc()
        rows.append(row)
        chairs += chair_rows
        with open(done_path, "a") as fh:
            fh.write(json.dumps({"row": row, "chairs": chair_rows}, default=float) + "\n")
    half = [c for c in chairs if c["in_view_half"]]
    half_frames = {c["frame"] for c in half}
    found_frames = {c["frame"] for c in half if c["found"]}
    labelled = [r for r in rows if r["false_chairs"] is not None]
    summary = {
        "frames": len(rows), "crashes": sum(bool(r["crash"]) for r in rows),
        "chair_found_share": len(found_frames) / len(half_frames) if half_frames else float("nan"),
        "false_chairs_per_frame": float(np.mean([r["false_chairs"] for r in labelled])) if labelled else float("nan"),
        "median_observed_within_2cm": float(np.median([c["observed_within_2cm"] for c in chairs])) if chairs else float("nan"),
        "median_observed_within_2cm_half_in_view": float(np.median([c["observed_within_2cm"] for c in half])) if half else float("nan"),
        "median_free_space_violation": float(np.nanmedian([r["free_space_violation"] for r in rows]))
        if any(np.isfinite(r["free_space_violation"]) for r in rows) else float("nan"),
        "median_seconds_per_object": float(np.nanmedian([r["seconds_per_object"] for r in rows if r["objects"] + r["rejected"]]))
        if any(r["objects"] + r["rejected"] for r in rows) else float("nan"),
    }
    pairs = held_out_views(frames, labels, world_boxes, out_dir / "meshes") if world_boxes else []
    summary["median_held_out_view_coverage"] = float(np.median([p["held_out_view_coverage"] for p in pairs])) if pairs else float("nan")
    if pairs:
        write_table(pairs, out_dir / "real_held_out", "Held-out views: one frame's chair in the pass's other frames",
                    "held_out_view_coverage: of the chair's points in the held-out frame that lie farther than 3 cm from every "
                    "point the fitting frame saw of it, the share within 3 cm of the fitted surface (0: chair not found).")
    if chairs:
        write_table(chairs, out_dir / "real_chairs", "Labelled chairs in real frames",
                    f"found: a fitted object with projected box IoU >= {FOUND_IOU} and height {CHAIR_HEIGHT[0]}-{CHAIR_HEIGHT[1]} m; "
                    f"observed_within_2cm: share of the chair's observed points within {NEAR} m of the fitted surface.")
    targets = (f"{summary['crashes']} crashes (target 0); chairs found in {summary['chair_found_share']:.0%} of the frames "
               f"where at least half of one is in view (target >= 80 %); {summary['false_chairs_per_frame']:.2f} false chairs per "
               f"labelled frame (target <= 0.2); median share of a labelled chair's observed points within 2 cm "
               f"{summary['median_observed_within_2cm']:.0%}, of those with at least half in view "
               f"{summary['median_observed_within_2cm_half_in_view']:.0%} (target >= 90 %); median free-space violation "
               f"{summary['median_free_space_violation']:.1%} (target <= 5 %); median {summary['median_seconds_per_object']:.0f} s "
               f"per object, segmentation to mesh (target <= 10 s); median held-out-view coverage "
               f"{summary['median_held_out_view_coverage']:.0%} over {len(pairs)} frame pairs (target >= 50 %).")
    (out_dir / "real_summary.json").write_text(json.dumps(summary, indent=2))
    return write_table(rows, out_dir / "real", f"Real frames ({frames_dir})",
                       targets + f" Every whole object of each frame fitted (complete --all-objects), mesh {res}^3.")
