"""Sequences of depth frames with camera poses: the pose files of the common RGB-D datasets, keyframes, and
a check that the poses are read in the right convention.

Every format stores **camera-to-world** transforms (x_world = T x_camera, OpenCV camera axes: x right, y down,
z forward), in metres:

- ``tum``: TUM RGB-D ``groundtruth.txt``, ``timestamp tx ty tz qx qy qz qw`` per line (the optical centre's
  position and orientation in the world); matched to the depth images' timestamps (``depth.txt``, or the
  files' names) as TUM's ``associate.py`` does, nearest within ``MAX_GAP`` seconds;
- ``matrix``: 7-Scenes, ScanNet, BundleFusion: one text file per frame holding a 4x4 matrix
  (``frame-000000.pose.txt``, ``pose/000000.txt``), matched to the depth image by the frame's number;
- ``log``: Open3D / Redwood / ICL-NUIM trajectory ``.log``: per frame a line of three ids (the frame's index
  first), then four rows of a 4x4 matrix; the k-th depth image (in name order) is frame k;
- ``slambook``: NYU / slambook ``pose.txt``: ``tx ty tz qx qy qz qw`` per line, the k-th line for the k-th
  depth image in name order.

A file that holds world-to-camera transforms instead (some SLAM systems write those) puts the frames' points
in different places: ``check_poses`` refuses such a sequence, with the disagreement measured; ``invert`` reads
it the other way round.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from core.fileio import DataError
from .scan import Scan, load_scan
from .sensor_json import read_sensor

MAX_GAP = 0.02  # s: a depth image and a pose further apart in time are not associated (TUM's associate.py)
DISAGREE = 0.10  # m: frames whose depths disagree by a larger median once their poses are applied are refused
OVERLAP = 0.05  # share of a frame's points that another frame must see for their depths to be compared
DEPTH_GLOBS = ("frame-*.depth.png", "depth/*.png", "*.depth.png", "depth/*.tiff", "depth/*.exr", "*.png")
POSE_FORMATS = {
    "tum": "TUM groundtruth.txt: 'timestamp tx ty tz qx qy qz qw', camera-to-world, matched by timestamp (<= 20 ms)",
    "matrix": "7-Scenes/ScanNet/BundleFusion: a 4x4 camera-to-world text file per frame, matched by frame number",
    "log": "Open3D/Redwood .log: 'id id id' then a 4x4 camera-to-world per frame, in the frames' name order",
    "slambook": "NYU/slambook pose.txt: 'tx ty tz qx qy qz qw' per line, camera-to-world, in the frames' name order",
}


@dataclass
class PosedFrame:
    path: Path  # the depth image
    camera_to_world: np.ndarray  # (4, 4)


def _number(path: Path) -> int | None:
    """The frame number in a file name (frame-000120.depth.png -> 120), the last run of digits."""
    runs = re.findall(r"\d+", path.name.split(".")[0])
    return int(runs[-1]) if runs else None


def _stamp(path: Path) -> float | None:
    """A TUM file name's timestamp (1305031102.160407.png -> 1305031102.160407)."""
    m = re.match(r"(\d+\.\d+)", path.name)
    return float(m.group(1)) if m else None


def quaternion_pose(row: np.ndarray) -> np.ndarray:
    """4x4 from tx ty tz qx qy qz qw."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(row[3:7]).as_matrix()
    T[:3, 3] = row[:3]
    return T


def _rows(path: Path) -> list[list[float]]:
    """Numeric rows of a text file, comments (#) and blank lines skipped; a malformed row names its line."""
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#")[0].strip()
        if not line:
            continue
        try:
            rows.append([float(x) for x in line.replace(",", " ").split()])
        except ValueError:
            raise DataError(f"{path}, line {n}: not numbers: {line[:60]!r}") from None
    return rows


def read_pose_file(path: str | Path) -> tuple[str, list[tuple[float, np.ndarray]]]:
    """A trajectory file's format (``POSE_FORMATS``) and its (key, camera-to-world) entries: the timestamp
    for ``tum``, the frame's order for ``log`` and ``slambook``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing pose file: {path}")
    rows = _rows(path)
    if not rows:
        raise DataError(f"{path}: no poses in it")
    widths = {len(r) for r in rows}
    if path.suffix == ".log" or widths == {3, 4}:
        if len(rows) % 5 or any(len(r) != 3 for r in rows[::5]):
            raise DataError(f"{path}: a .log trajectory is a line of three ids and four rows of 4 per frame")
        return "log", [(k, np.array(rows[5 * k + 1:5 * k + 5])) for k in range(len(rows) // 5)]
    if widths == {8}:
        return "tum", [(r[0], quaternion_pose(np.array(r[1:]))) for r in rows]
    if widths == {7}:
        return "slambook", [(k, quaternion_pose(np.array(r))) for k, r in enumerate(rows)]
    if widths == {4} and len(rows) == 4:
        return "matrix", [(0, np.array(rows))]
    raise DataError(f"{path}: not a pose file of a known layout ({'; '.join(POSE_FORMATS.values())}); "
                    f"its rows have {sorted(widths)} numbers")


def associate(first: list[float], second: list[float], max_gap: float = MAX_GAP) -> list[tuple[int, int]]:
    """Index pairs of timestamps, nearest first, each used once, at most ``max_gap`` apart (TUM's
    ``associate.py``), in the order of ``first``."""
    a, b = np.asarray(first, float), np.asarray(second, float)
    if not len(a) or not len(b):
        return []
    order = np.argsort(b)
    j = np.clip(np.searchsorted(b[order], a), 1, len(b) - 1) if len(b) > 1 else np.zeros(len(a), int)
    candidates = []
    for i, k in enumerate(j):  # the two neighbours in time of each first stamp, and their own neighbours
        for kk in {max(k - 2, 0), max(k - 1, 0), k, min(k + 1, len(b) - 1)}:
            gap = abs(a[i] - b[order[kk]])
            if gap <= max_gap:
                candidates.append((gap, i, int(order[kk])))
    pairs, used_a, used_b = [], set(), set()
    for _, i, k in sorted(candidates):
        if i not in used_a and k not in used_b:
            pairs.append((i, k))
            used_a.add(i)
            used_b.add(k)
    return sorted(pairs)


def _tum_depths(folder: Path) -> list[tuple[float, Path]]:
    """TUM's depth.txt: (timestamp, depth image) per line."""
    out = []
    for n, line in enumerate((folder / "depth.txt").read_text().splitlines(), 1):
        parts = line.split("#")[0].split()
        if len(parts) >= 2:
            try:
                out.append((float(parts[0]), folder / parts[1]))
            except ValueError:
                raise DataError(f"{folder / 'depth.txt'}, line {n}: 'timestamp filename' expected") from None
    return out


def find_depths(folder: Path) -> list[Path]:
    """The depth images of a sequence folder, in name order (the first of ``DEPTH_GLOBS`` that matches)."""
    if (folder / "depth.txt").is_file():
        return [p for _, p in _tum_depths(folder)]
    for pattern in DEPTH_GLOBS:
        found = sorted(p for p in folder.glob(pattern) if not p.name.endswith(".color.png"))
        if found:
            return found
    raise DataError(f"{folder}: no depth images found ({', '.join(DEPTH_GLOBS)}, or TUM's depth.txt)")


def find_poses(folder: Path) -> Path:
    """A sequence folder's pose source: a trajectory file, or the folder of per-frame matrices itself."""
    for name in ("groundtruth.txt", "trajectory.log", "pose.txt", "poses.txt"):
        if (folder / name).is_file():
            return folder / name
    logs = sorted(folder.glob("*.log"))
    if logs:
        return logs[0]
    if any(folder.glob("*.pose.txt")):
        return folder
    if (folder / "pose").is_dir():
        return folder / "pose"
    raise DataError(f"{folder}: no camera poses found (groundtruth.txt, a .log trajectory, pose.txt, "
                    f"frame-*.pose.txt or pose/*.txt); give them with --poses")


def pose_frames(depths: list[Path], poses: str | Path, warn: Callable[[str], None] = print,
                invert: bool = False) -> list[PosedFrame]:
    """Each depth image with its camera-to-world pose (``invert``: the file holds world-to-camera). Frames
    without a pose (a missing matrix file, a timestamp more than ``MAX_GAP`` from every pose, past the end
    of a trajectory) are named and left out."""
    poses = Path(poses)
    found: list[PosedFrame] = []
    missing: list[str] = []
    if poses.is_dir():  # one matrix file per frame, matched by number
        files = {_number(p): p for p in poses.glob("*.txt")}  # frame-000000.pose.txt, pose/000000.txt
        for d in depths:
            f = files.get(_number(d))
            if f is None:
                missing.append(d.name)
                continue
            kind, entries = read_pose_file(f)
            if kind != "matrix":
                raise DataError(f"{f}: a 4x4 matrix was expected (one file per frame)")
            found.append(PosedFrame(d, entries[0][1]))
    else:
        kind, entries = read_pose_file(poses)
        if kind == "tum":
            folder = depths[0].parent if depths else poses.parent
            stamps_of = dict((p, t) for t, p in _tum_depths(poses.parent)) if (poses.parent / "depth.txt").is_file() else {}
            stamps = [stamps_of.get(d, _stamp(d)) for d in depths]
            if any(s is None for s in stamps):
                raise DataError(f"{folder}: the depth images have no timestamps (TUM's depth.txt, or names like "
                                f"1305031102.160407.png) to match {poses.name}'s poses to")
            pairs = dict(associate(stamps, [t for t, _ in entries]))
            for i, d in enumerate(depths):
                if i in pairs:
                    found.append(PosedFrame(d, entries[pairs[i]][1]))
                else:
                    missing.append(f"{d.name} (no pose within {1000 * MAX_GAP:.0f} ms)")
        else:
            for i, d in enumerate(depths):
                if i < len(entries):
                    found.append(PosedFrame(d, entries[i][1]))
                else:
                    missing.append(d.name)
            if len(entries) > len(depths):
                warn(f"{poses}: {len(entries)} poses for {len(depths)} depth images: the first {len(depths)} are used")
    if missing:
        warn(f"{len(missing)} frame(s) without a pose left out: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    for f in found:
        T = np.asarray(f.camera_to_world, float)
        R = T[:3, :3]
        if T.shape != (4, 4) or not np.isfinite(T).all() or abs(np.linalg.det(R) - 1) > 1e-2 or \
                not np.allclose(R @ R.T, np.eye(3), atol=1e-2):
            raise DataError(f"{poses}: the pose of {f.path.name} is not a rigid motion (a rotation and a translation)")
        f.camera_to_world = np.linalg.inv(T) if invert else T
    if not found:
        raise DataError(f"{poses}: none of the {len(depths)} depth images has a pose")
    return found


def keyframes(frames: list, stride: int = 1, max_frames: int | None = None) -> list:
    """Every ``stride``-th frame, then at most ``max_frames`` of those, spread evenly over the sequence."""
    if stride < 1:
        raise ValueError(f"--stride must be at least 1 (got {stride})")
    picked = frames[::stride]
    if max_frames is not None and len(picked) > max_frames:
        picked = [picked[i] for i in np.linspace(0, len(picked) - 1, max_frames).round().astype(int)]
    return picked


def sensor_settings(folder: Path) -> dict:
    """Intrinsics and depth units of a sequence folder: its ``sensor.json`` (``../shared/realdata`` layout),
    ScanNet's ``intrinsic/intrinsic_depth.txt``, or 7-Scenes' ``camera-intrinsics.txt``; empty if none."""
    sensor = read_sensor(folder)
    if sensor is not None:
        return {"camera": sensor.intrinsics, "depth_scale": sensor.files[0].per_metre if sensor.files else None}
    for name in ("intrinsic/intrinsic_depth.txt", "camera-intrinsics.txt", "intrinsics.txt"):
        if (folder / name).is_file():
            try:
                K = np.loadtxt(folder / name)
            except ValueError as e:
                raise DataError(f"{folder / name}: not a matrix of numbers ({e})") from e
            if K.shape not in ((3, 3), (4, 4)):  # ScanNet writes a 4x4 whose upper left 3x3 is K
                raise DataError(f"{folder / name}: a 3x3 or 4x4 intrinsic matrix was expected, found shape {K.shape}")
            return {"camera": {"fx": K[0, 0], "fy": K[1, 1], "cx": K[0, 2], "cy": K[1, 2]}}
    return {}


@dataclass
class Sequence:
    scans: list[Scan]
    camera_to_world: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.scans)

    def names(self) -> list[str]:
        return [Path(s.source).name for s in self.scans]


BYTES_PER_PIXEL = 4 + 12 + 12 + 8  # held per keyframe: depth, back-projected points and normals, segment labels


def load_sequence(paths: list[str | Path], poses: str | Path | None = None, camera=None, depth_scale: float | None = None,
                  depth_format: str | None = None, stride: int = 1, max_frames: int | None = 30, invert: bool = False,
                  warn: Callable[[str], None] = print) -> Sequence:
    """Depth frames and their camera-to-world poses, keyframes picked (``keyframes``) before any image is
    read: a sweep of thousands of frames costs only the keyframes' memory (``BYTES_PER_PIXEL`` a pixel,
    ~11 MB for 640x480). ``paths``: depth images, or one sequence folder whose depth images, poses and
    intrinsics are found (``find_depths``, ``find_poses``, ``sensor_settings``; the latter for files too, from
    their folder). ``poses``: a trajectory file or a folder of per-frame matrices (``POSE_FORMATS``)."""
    paths = [Path(p) for p in paths]
    if len(paths) == 1 and paths[0].is_dir():
        folder = paths[0]
        depths = find_depths(folder)
        poses = poses or find_poses(folder)
    else:
        depths = sorted(paths, key=lambda p: (_number(p) is None, _number(p) or 0, p.name))
        folder = depths[0].parent
        if poses is None:
            raise DataError("several depth frames need their camera poses: --poses FILE (or a folder of per-frame "
                            "4x4 files)")
    settings = sensor_settings(folder)  # what the arguments and the frames' own sidecars leave open
    camera = camera or settings.get("camera")
    depth_scale = depth_scale or settings.get("depth_scale")
    frames = keyframes(pose_frames(depths, poses, warn, invert), stride, max_frames)
    scans = [load_scan(f.path, camera=camera, depth_scale=depth_scale, depth_format=depth_format) for f in frames]
    sequence = Sequence(scans, [f.camera_to_world for f in frames])
    if len(sequence) > 1:
        check_poses(sequence)
    return sequence


def sample_points(scan: Scan, count: int = 20000, seed: int = 0) -> np.ndarray:
    """``count`` of a scan's back-projected points (camera frame), drawn at random."""
    v, u = np.nonzero(np.isfinite(scan.depth))
    if len(v) > count:
        pick = np.random.default_rng(seed).choice(len(v), count, replace=False)
        v, u = v[pick], u[pick]
    z = scan.depth[v, u].astype(np.float64)
    cam = scan.camera
    return np.column_stack([(u - cam.cx) / cam.fx * z, (v - cam.cy) / cam.fy * z, z])


def disagreement(a: Scan, b_points: np.ndarray, b_to_a: np.ndarray) -> tuple[float, float]:
    """The median |depth difference| (m) between another frame's points (``sample_points``) moved into ``a``'s
    camera and ``a``'s own depth at the same pixels, and the share of them that land in ``a``'s view with
    depth there."""
    pts = b_points @ b_to_a[:3, :3].T + b_to_a[:3, 3]
    uv, front = a.camera.project(pts)
    u, v = np.floor(uv).astype(int).T
    inside = (u >= 0) & (v >= 0) & (u < a.camera.width) & (v < a.camera.height)
    z = np.full(len(front), np.nan)
    z[inside] = a.depth[v[inside], u[inside]]
    seen = np.isfinite(z)
    share = float(seen.sum() / max(len(pts), 1))
    if not seen.any():
        return float("inf"), 0.0
    return float(np.median(np.abs(front[seen, 2] - z[seen]))), share


def check_poses(sequence: Sequence, limit: float = DISAGREE) -> list[float]:
    """Each frame's depth disagreement (``disagreement``) with the other frame that sees most of what it
    sees; a frame that sees nothing the others see (``OVERLAP``) or disagrees by more than ``limit`` is
    refused, the numbers named: poses read in the wrong convention (world-to-camera), in other units than
    the depth, or of another sequence."""
    medians = []
    T = [np.asarray(t, float) for t in sequence.camera_to_world]
    for j, b in enumerate(sequence.scans):
        best = (float("inf"), 0.0, -1)
        points = sample_points(b, 5000)
        for i, a in enumerate(sequence.scans):
            if i != j:
                med, share = disagreement(a, points, np.linalg.inv(T[i]) @ T[j])
                if share > best[1]:
                    best = (med, share, i)
        med, share, i = best
        names = sequence.names()
        hint = ("are the poses camera-to-world, in metres, and of these frames? (--help names each format's "
                "convention; --invert-poses reads world-to-camera)")
        if share < OVERLAP:
            raise DataError(f"{names[j]}: once the poses are applied it sees almost nothing the other frames see "
                            f"({100 * share:.1f} % of its points at most): {hint}")
        if med > limit:
            raise DataError(f"{names[j]} and {names[i]} disagree by a median of {100 * med:.1f} cm in depth once "
                            f"their poses are applied (more than {100 * limit:.0f} cm): {hint}")
        medians.append(med)
    return medians


def align(moving: np.ndarray, fixed: np.ndarray, fixed_normals: np.ndarray, start: np.ndarray | None = None,
          iterations: int = 40, keep: float = 0.5) -> np.ndarray:
    """A rigid motion taking ``moving`` points onto the surface of ``fixed`` (points with unit normals):
    trimmed point-to-plane ICP, each round the nearest pairs, the closest ``keep`` share of them, one
    linearised least-squares step. Two frames of a sweep see partly different things; the trimmed pairs are
    those both see. It absorbs a trajectory's errors (~10 cm, a few degrees) near an object before its views
    are fused (``fusion.ALIGN_RADII``: the room first, then the object's surroundings): on the 7-Scenes
    kitchen pass, four frames' poses perturbed by 10-19 cm and 3 degrees came back to 0.4-1.4 cm at the chair
    (point-to-point pairs, around the object alone: 2-9 cm)."""
    T = np.eye(4) if start is None else np.array(start, float)
    tree = cKDTree(fixed)
    for _ in range(iterations):
        p, q, n = _pairs(tree, moving @ T[:3, :3].T + T[:3, 3], fixed, fixed_normals, keep)
        A = np.column_stack([np.cross(p, n), n])
        x = np.linalg.lstsq(A, np.einsum("ij,ij->i", q - p, n), rcond=None)[0]
        step = np.eye(4)
        step[:3, :3] = Rotation.from_rotvec(x[:3]).as_matrix()
        step[:3, 3] = x[3:]
        T = step @ T
        if np.linalg.norm(x[3:]) < 1e-4 and np.linalg.norm(x[:3]) < 1e-5:
            break
    return T


def misfit(moving: np.ndarray, fixed: np.ndarray, fixed_normals: np.ndarray, keep: float = 0.5) -> float:
    """How far ``moving`` points lie off the surface of ``fixed`` (points with unit normals): the median
    point-to-plane distance of the closest ``keep`` share of nearest pairs, as ``align`` pairs them."""
    p, q, n = _pairs(cKDTree(fixed), moving, fixed, fixed_normals, keep)
    return float(np.median(np.abs(np.einsum("ij,ij->i", p - q, n))))


def _pairs(tree: cKDTree, moving: np.ndarray, fixed: np.ndarray, fixed_normals: np.ndarray,
           keep: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The closest ``keep`` share of nearest pairs: the moving points, their partners in ``fixed`` (its
    ``tree``) and the partners' normals."""
    d, k = tree.query(moving)
    close = d <= np.quantile(d, keep)
    return moving[close], fixed[k[close]], fixed_normals[k[close]]
