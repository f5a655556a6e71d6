"""The real-frame evaluation's held-out-view check: does one frame's completion explain what that frame never saw?

In a sensor folder with camera poses, the labelled frames where at least half a chair is in view make a pass
(the 7-Scenes kitchen's frames 0-90). The chair fitted in each of them (``real_frames.frame_rows`` keeps its
mesh) is moved with the poses into every other frame of the pass. There, the chair's points (its labelled
pixel box, objects only, inside its oriented world-frame box of labels.json's ``world_boxes``: not the floor,
a support plane or the table's leg beside it) that lie farther than ``UNSEEN`` from every point the fitting
frame saw of it are what the input never saw; the held-out-view coverage of the pair is the share of them
within ``COVERED`` of the fitted surface. A chair not found in the fitting frame covers nothing (0).
"""
from __future__ import annotations

from pathlib import Path

import igl
import numpy as np
import trimesh
from scipy.spatial import cKDTree

from core.fileio import DataError
from core.scans.scan import load_scan
from core.scans.segment import segment_scan
from core.scans.sequence import find_poses, pose_frames
from .real_frames import Frame, chair_mesh, chair_points
from .real_sequence import in_world_box

UNSEEN = 0.03  # m: a held-out point this far from every point the fitting frame saw, the input never saw
COVERED = 0.03  # m: ...and explained by the fit within this
LEAST_UNSEEN = 50  # points: a pair with fewer unseen points says nothing (the frames saw the same side)


def world_chair_points(frame: Frame, boxes: list[dict], pose: np.ndarray, labels: dict) -> np.ndarray:
    """The labelled chair's observed points of a frame in the poses' world frame, inside ``boxes``."""
    scan = load_scan(frame.path, camera=frame.intrinsics, depth_scale=frame.per_metre, depth_format=frame.depth_format)
    seg = segment_scan(scan.depth, scan.camera, source=str(frame.path))
    found = []
    for chair in labels["chairs"]:
        pts = chair_points(seg, chair["box"])
        world = pts @ pose[:3, :3].T + pose[:3, 3]
        found.append(world[np.any([in_world_box(world, b) for b in boxes], axis=0)] if len(world) else world)
    return np.concatenate(found) if found else np.zeros((0, 3))


def held_out_views(frames: list[Frame], labels: dict, world_boxes: dict, mesh_dir: Path) -> list[dict]:
    """One row per (fitting frame, held-out frame) pair of every posed pass with world boxes (module docstring)."""
    by_folder: dict[Path, list[Frame]] = {}
    for frame in frames:
        chairs = (labels.get(frame.key) or {}).get("chairs", [])
        if chairs and all(c.get("in_view_half", True) for c in chairs) and frame.path.parent.name in world_boxes:
            by_folder.setdefault(frame.path.parent, []).append(frame)
    rows = []
    for folder, group in by_folder.items():
        try:
            poses = {p.path: p.camera_to_world for p in pose_frames([f.path for f in group], find_poses(folder), warn=lambda m: None)}
        except DataError:
            continue
        group = [f for f in group if f.path in poses]
        boxes = world_boxes[folder.name]
        seen = {f.key: world_chair_points(f, boxes, poses[f.path], labels[f.key]) for f in group}
        for fit in group:
            meshes = [chair_mesh(mesh_dir, fit.key, k) for k in range(len(labels[fit.key]["chairs"]))]
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
                    sq, _, _ = igl.point_mesh_squared_distance(np.ascontiguousarray(unseen, np.float64),
                                                               np.ascontiguousarray(mesh.vertices, np.float64),
                                                               np.ascontiguousarray(mesh.faces, np.int64))
                    covered = float(np.mean(np.sqrt(sq) <= COVERED))
                rows.append({"folder": folder.name, "fitted_in": Path(fit.key).name.split(".")[0],
                             "held_out": Path(held.key).name.split(".")[0], "found": mesh is not None,
                             "unseen_points": len(unseen), "held_out_view_coverage": covered})
    return rows
