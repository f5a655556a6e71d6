"""Depth scans: loading, camera sidecars, back-projection, noise, completion samples, rendering.

Conventions. Depth is the z coordinate in an OpenCV camera frame (x right, y down, z forward), in the
model's units after ``depth_scale`` (stored value / scale). Missing pixels are 0 (PNG) or NaN/≤0 (float)
and become NaN. The pose is the 4x4 **camera-to-model** matrix: it maps camera coordinates into the
model's normalised frame.

Sidecar JSON (``scan.png`` -> ``scan.json``, found automatically)::

    {"intrinsics": {"fx": .., "fy": .., "cx": .., "cy": .., "width": W, "height": H}
                   | {"width": W, "height": H, "intrinsic_matrix": [9 numbers, column-major]}  (Open3D)
                   | "K.txt" (a 3x3 matrix file, path relative to the sidecar),
     "camera_to_model": [[4x4]], "depth_scale": 1000, "ground_truth": "chairs_00003"}
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.fileio import DataError, atomic_write, ieee_denormals
from core.fit.latent import FitData
from .sensor_json import NAME as SENSOR_JSON, sensor_of

SIDECAR_HELP = ("give the intrinsics (`deepsdf complete --intrinsics fx,fy,cx,cy`; the app asks for them), or write "
                "a sidecar JSON next to the image with 'intrinsics' (fx, fy, cx, cy, width, height, or an Open3D "
                "intrinsic) and, for a posed scan, 'camera_to_model' (4x4)")


@dataclass
class Camera:
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self):
        if not (self.fx > 0 and self.fy > 0 and self.width > 0 and self.height > 0):
            raise DataError(f"invalid intrinsics: fx={self.fx}, fy={self.fy}, size {self.width}x{self.height} "
                            "(focal lengths and size must be positive)")

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float = 50.0) -> "Camera":
        f = 0.5 * width / np.tan(np.radians(fov_deg) / 2)
        return cls(f, f, (width - 1) / 2, (height - 1) / 2, width, height)

    @classmethod
    def parse(cls, spec, base: Path | None = None, size: tuple[int, int] | None = None) -> "Camera":
        """fx/fy/cx/cy dict or text ("fx,fy,cx,cy"), Open3D PinholeCameraIntrinsic dict, or a path to such a
        JSON or to a 3x3 K text file. ``size`` (width, height) fills in a missing image size."""
        if isinstance(spec, str) and (numbers := _four_numbers(spec)):
            spec = dict(zip(("fx", "fy", "cx", "cy"), numbers))
        if isinstance(spec, (str, Path)):
            path = Path(spec) if base is None else base / spec
            if not path.is_file():
                if "," in str(spec):
                    raise DataError(f"intrinsics {str(spec)!r}: four numbers fx,fy,cx,cy (pixels) were expected")
                raise FileNotFoundError(f"missing intrinsics file: {path}")
            if path.suffix == ".json":
                try:
                    data = json.loads(path.read_text())
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}: invalid JSON ({e})") from e
                if isinstance(data, dict) and "intrinsics" in data:  # another scan's sidecar
                    return cls.parse(data["intrinsics"], path.parent, size)
                return cls.parse(data, size=size)
            try:
                K = np.loadtxt(path)
            except ValueError as e:
                raise DataError(f"{path}: not a 3x3 matrix of numbers ({e})") from e
            if K.shape != (3, 3):
                raise DataError(f"{path}: a 3x3 intrinsic matrix was expected, found shape {K.shape}")
            spec = {"K": K.tolist()}
        if not isinstance(spec, dict):
            raise DataError(f"intrinsics must be an object, got {type(spec).__name__}")
        spec = dict(spec)
        if size is not None:
            spec.setdefault("width", size[0])
            spec.setdefault("height", size[1])
        try:
            if "intrinsic_matrix" in spec:  # Open3D: column-major 3x3
                K = np.asarray(spec["intrinsic_matrix"], float).reshape(3, 3, order="F")
            elif "K" in spec:
                K = np.asarray(spec["K"], float).reshape(3, 3)
            else:
                K = np.array([[spec["fx"], 0, spec["cx"]], [0, spec["fy"], spec["cy"]], [0, 0, 1]], float)
            return cls(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), int(spec["width"]), int(spec["height"]))
        except KeyError as e:
            raise DataError(f"intrinsics lack {e}: give fx, fy, cx, cy (or a K matrix) and width, height") from None
        except ValueError as e:
            raise DataError(f"intrinsics are malformed ({e})") from None

    def to_dict(self) -> dict:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy, "width": self.width, "height": self.height}

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (n, 2) of the camera-frame points in front of the camera, and those points."""
        front = points[points[:, 2] > 1e-6]
        return np.column_stack([front[:, 0] / front[:, 2] * self.fx + self.cx,
                                front[:, 1] / front[:, 2] * self.fy + self.cy]), front



@dataclass(frozen=True)
class Sensor:
    """A depth sensor's usual intrinsics at its native ``size`` and its depth units (stored value per metre):
    what a user picks instead of typing them. ``camera`` scales them to another image size."""

    name: str
    fx: float
    fy: float
    cx: float
    cy: float
    size: tuple[int, int]  # width, height
    depth_scale: float

    def camera(self, width: int, height: int) -> "Camera":
        sx, sy = width / self.size[0], height / self.size[1]
        return Camera(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, width, height)


# Published numbers (dataset papers and tools, vendors' typical values; a device's own calibration is better).
SENSORS = {s.name: s for s in (
    Sensor("Kinect v1 / TUM default (Open3D)", 525.0, 525.0, 319.5, 239.5, (640, 480), 5000.0),
    Sensor("TUM RGB-D fr1", 517.3, 516.5, 318.6, 255.3, (640, 480), 5000.0),
    Sensor("TUM RGB-D fr2", 520.9, 521.0, 325.1, 249.7, (640, 480), 5000.0),
    Sensor("TUM RGB-D fr3", 535.4, 539.2, 320.1, 247.6, (640, 480), 5000.0),
    Sensor("7-Scenes (Kinect v1)", 585.0, 585.0, 320.0, 240.0, (640, 480), 1000.0),
    Sensor("NYU Depth v2 raw depth", 582.62, 582.69, 313.04, 238.44, (640, 480), 1000.0),
    Sensor("NYU Depth v2 registered", 518.86, 519.47, 325.58, 253.74, (640, 480), 1000.0),
    Sensor("RealSense D435 (typical, 640x480 depth)", 385.0, 385.0, 320.0, 240.0, (640, 480), 1000.0),
    Sensor("Azure Kinect NFOV unbinned (typical)", 504.0, 504.0, 320.0, 288.0, (640, 576), 1000.0),
)}

def _four_numbers(text: str) -> list[float] | None:
    try:
        numbers = [float(x) for x in text.split(",")]
    except ValueError:
        return None
    return numbers if len(numbers) == 4 else None


@dataclass
class Scan:
    depth: np.ndarray  # (H, W) float32, NaN = missing
    camera: Camera
    camera_to_model: np.ndarray | None  # (4, 4) Sim(3); None for a sensor's scan (pose-free completion finds it)
    ground_truth: str | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)

    def posed(self) -> np.ndarray:
        if self.camera_to_model is None:
            raise DataError(f"{self.source or 'scan'}: no camera pose in the model's frame ('camera_to_model' in the "
                            "sidecar); complete it without one (the pose-free pipeline) or give the pose")
        return self.camera_to_model

    def observed(self, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """Observed surface points and unit normals (facing the camera) in the camera frame, denoised by
        ``smooth_surface``, and the depth noise estimated from the scan; only ``mask``'s pixels if given."""
        pts, normals, valid = back_project(self.depth, self.camera)
        keep = valid if mask is None else valid & mask
        return smooth_surface(pts[keep], normals[keep])

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """Observed surface points and unit normals (facing the camera), both in the model frame."""
        return to_model_frame(*self.observed(), self.posed())[:2]

    def camera_centre(self) -> np.ndarray:
        return self.posed()[:3, 3].copy()


def sim3_scale(m: np.ndarray) -> float:
    """The uniform scale of a Sim(3) (4x4, or its 3x3 part)."""
    return float(np.cbrt(np.linalg.det(m[:3, :3])))


def to_model_frame(points: np.ndarray, normals: np.ndarray, noise: float,
                   camera_to_model: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Camera-frame points, unit normals and noise into the model's frame through a Sim(3)."""
    R, t = camera_to_model[:3, :3], camera_to_model[:3, 3]
    n = normals @ R.T  # a Sim(3) scales them: back to unit length
    return points @ R.T + t, n / np.linalg.norm(n, axis=1, keepdims=True), noise * sim3_scale(R)


# --- loading --------------------------------------------------------------------------------------

EXR_DEPTH_CHANNELS = ("Z", "depth", "Depth", "Y", "R")  # first one present wins (Blender writes Z)


def _read_exr(path: Path) -> np.ndarray:
    import OpenEXR

    with OpenEXR.File(str(path)) as fh:
        channels = {name: ch.pixels for name, ch in fh.channels().items()}
    name = next((c for c in EXR_DEPTH_CHANNELS if c in channels), None)
    if name is None and len(channels) == 1:
        name = next(iter(channels))
    if name is None:
        raise DataError(f"{path}: no depth channel (looked for {', '.join(EXR_DEPTH_CHANNELS)}; found {sorted(channels)})")
    return channels[name]


DEPTH_FORMATS = {  # how a sensor's raw file encodes depth, where it is not plain units (``load_depth``)
    "nyu-disparity": "NYU Depth v2 raw .pgm: Kinect disparity stored little-endian, metres = 351.3 / (1092.5 - raw), "
                     "2047 = no reading (the default for .pgm)",
    "sun3d": "SUN3D PNG: bit-rotated uint16, mm = (d >> 3) | (d << 13)",
}
NYU_NO_READING = 2047


def _decode(depth: np.ndarray, depth_format: str, path: Path) -> np.ndarray:
    """A raw sensor encoding (``DEPTH_FORMATS``) -> float32 metres (NYU) or uint16 millimetres (SUN3D)."""
    if not np.issubdtype(depth.dtype, np.integer) or depth.min() < 0 or depth.max() > 65535:
        raise DataError(f"{path}: a {depth_format} depth image holds 16-bit integers, found {depth.dtype} "
                        f"{depth.min()}..{depth.max()}")
    raw = depth.astype(np.uint16)
    if depth_format == "sun3d":
        return (raw >> 3) | (raw << 13)
    raw = raw.byteswap()  # Netpbm says big-endian; the NYU toolbox wrote the Kinect's little-endian words
    if not (raw <= NYU_NO_READING).all():
        raise DataError(f"{path}: not NYU raw disparity (values up to {int(raw.max())}, at most {NYU_NO_READING} "
                        "expected once byte-swapped); pass the depth format that fits")
    disparity = raw.astype(np.float64)
    return np.where(raw < NYU_NO_READING, 351.3 / np.maximum(1092.5 - disparity, 1e-6), np.nan).astype(np.float32)


def load_depth(path: str | Path, depth_scale: float | None = None, depth_format: str | None = None) -> np.ndarray:
    """Depth image -> float32 (H, W) with NaN for missing pixels.

    16-bit PNG: value / depth_scale (default 1000; TUM uses 5000), 0 or 65535 = missing (the latter some
    sensors' and converters' mark for no return; 65.5 m is beyond any depth sensor). Float TIFF/EXR/NPY/NPZ:
    values as stored (depth_scale divides if given), non-positive, NaN or infinite = missing. Raw sensor
    encodings (``DEPTH_FORMATS``: NYU's disparity .pgm, the default for .pgm, and SUN3D's bit-rotated PNG)
    are decoded first; NYU's comes out in metres.
    """
    path = Path(path)
    if depth_format is None and path.suffix.lower() == ".pgm":
        depth_format = "nyu-disparity"
    if depth_format is not None and depth_format not in DEPTH_FORMATS:
        raise DataError(f"{path}: unknown depth format {depth_format!r} (known: {', '.join(DEPTH_FORMATS)})")
    if not path.is_file():
        raise FileNotFoundError(f"missing depth image: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            depth = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                key = "depth" if "depth" in npz.files else (npz.files[0] if len(npz.files) == 1 else None)
                if key is None:
                    raise DataError(f"{path}: expected an array named 'depth', found {npz.files}")
                depth = npz[key]
        elif suffix in (".tif", ".tiff"):
            import tifffile

            depth = tifffile.imread(path)
        elif suffix == ".exr":
            depth = _read_exr(path)
        else:
            import imageio.v3 as iio

            depth = iio.imread(path)
    except DataError:
        raise
    except Exception as e:  # image libraries raise many types for broken files, some with advice that misleads
        # here (imageio suggests installing plugins for a corrupt PNG): its first line only
        first = (str(e).strip().splitlines() or [""])[0]
        raise DataError(f"{path}: cannot read depth image: corrupt, truncated or not a {suffix or 'known'} file "
                        f"({type(e).__name__}: {first})") from e
    depth = np.asarray(depth)
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[..., 0]
    if depth.ndim != 2:
        raise DataError(f"{path}: a single-channel depth image was expected, found shape {depth.shape}")
    if depth_format is not None:
        depth = _decode(depth, depth_format, path)
    if np.issubdtype(depth.dtype, np.integer):
        out = depth.astype(np.float32) / float(depth_scale or 1000.0)
        if depth.dtype == np.uint16:
            out[depth == np.iinfo(np.uint16).max] = np.nan
    elif np.issubdtype(depth.dtype, np.floating):
        out = depth.astype(np.float32) / float(depth_scale or 1.0)
    else:
        raise DataError(f"{path}: unsupported depth dtype {depth.dtype}")
    out[~(out > 0) | ~np.isfinite(out)] = np.nan  # +inf too: a converter's "no return" would pass (inf > 0)
    if not np.isfinite(out).any():
        raise DataError(f"{path}: the depth image has no valid pixels (all zero, negative, infinite or NaN)")
    return out


def sidecar_path(image: Path) -> Path:
    return Path(image).with_suffix(".json")


def load_scan(path: str | Path, camera: Camera | str | dict | None = None, camera_to_model=None,
              depth_scale: float | None = None, depth_format: str | None = None) -> Scan:
    """A depth image with its camera: explicit arguments win over the sidecar JSON, which wins over the
    folder's ``sensor.json`` (a raw sensor frame's intrinsics, units and format). ``camera`` may be
    anything ``Camera.parse`` reads (a sensor's "fx,fy,cx,cy"); the image gives its size."""
    path = Path(path)
    meta = {}
    side = sidecar_path(path)
    if side.is_file():
        try:
            meta = json.loads(side.read_text())
        except json.JSONDecodeError as e:
            raise DataError(f"{side}: invalid JSON ({e})") from e
    found = None if "intrinsics" in meta else sensor_of(path)  # the folder's sensor.json, for a raw frame
    sensor, part = found or (None, None)
    if depth_scale is None:
        depth_scale = meta.get("depth_scale", part.per_metre if part else None)
    depth = load_depth(path, depth_scale, depth_format or meta.get("depth_format") or (part.depth_format if part else None))
    if camera is None and sensor is not None:
        camera = sensor.intrinsics
    if camera is not None and not isinstance(camera, Camera):
        camera = Camera.parse(camera, size=(depth.shape[1], depth.shape[0]))
    if camera is None:
        if "intrinsics" not in meta:
            raise DataError(f"{path}: no intrinsics ({side.name} missing or without 'intrinsics', no "
                            f"{SENSOR_JSON} in its folder); {SIDECAR_HELP}")
        camera = Camera.parse(meta["intrinsics"], side.parent, size=(depth.shape[1], depth.shape[0]))
    if camera_to_model is None:
        camera_to_model = meta.get("camera_to_model")  # a sensor's scan has none: pose-free completion
    pose = None if camera_to_model is None else np.asarray(camera_to_model, float)
    if pose is not None and (pose.shape != (4, 4) or not np.isfinite(pose).all()):
        raise DataError(f"{path}: camera_to_model must be a finite 4x4 matrix, got shape {pose.shape}")
    if depth.shape != (camera.height, camera.width):
        raise DataError(f"{path}: image is {depth.shape[1]}x{depth.shape[0]} but the intrinsics say "
                        f"{camera.width}x{camera.height}")
    return Scan(depth, camera, pose, meta.get("ground_truth"), str(path), meta)


def write_depth_png(depth: np.ndarray, path: str | Path, depth_scale: float = 1000.0) -> Path:
    """16-bit PNG: value = depth * depth_scale, 0 = missing."""
    import imageio.v3 as iio

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"{path}: scans are written as 16-bit PNG")
    d = np.nan_to_num(depth, nan=0.0) * depth_scale
    if d.max() >= 65535:
        raise ValueError(f"{path}: depth {np.nanmax(depth):.2f} does not fit 16 bits at depth_scale {depth_scale}")
    return atomic_write(path, lambda tmp: iio.imwrite(tmp, np.round(d).astype(np.uint16)))


def save_scan(scan: Scan, path: str | Path, depth_scale: float = 1000.0) -> Path:
    """16-bit PNG (value = depth * depth_scale, 0 = missing) plus its sidecar JSON."""
    path = write_depth_png(scan.depth, path, depth_scale)
    meta = {"intrinsics": scan.camera.to_dict(),
            **({"camera_to_model": scan.camera_to_model.tolist()} if scan.camera_to_model is not None else {}),
            "depth_scale": depth_scale, "ground_truth": scan.ground_truth,
            **{k: v for k, v in scan.extra.items() if k not in ("intrinsics", "camera_to_model", "depth_scale", "ground_truth")}}
    atomic_write(sidecar_path(path), lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
    return path


# --- geometry -------------------------------------------------------------------------------------

def back_project(depth: np.ndarray, cam: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera-frame points (H, W, 3), unit normals facing the camera (H, W, 3) and the valid mask.

    Normals come from the depth grid (cross product of neighbour differences); pixels without
    valid neighbours in both directions are dropped.
    """
    H, W = depth.shape
    u, v = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    z = depth
    pts = np.stack([(u - cam.cx) * z / cam.fx, (v - cam.cy) * z / cam.fy, z], -1)
    pad = np.pad(pts, ((1, 1), (1, 1), (0, 0)), constant_values=np.nan)
    du = pad[1:-1, 2:] - pad[1:-1, :-2]
    dv = pad[2:, 1:-1] - pad[:-2, 1:-1]
    # fall back to one-sided differences at silhouettes
    du = np.where(np.isnan(du), np.where(np.isnan(pad[1:-1, 2:] - pts), pts - pad[1:-1, :-2], pad[1:-1, 2:] - pts), du)
    dv = np.where(np.isnan(dv), np.where(np.isnan(pad[2:, 1:-1] - pts), pts - pad[:-2, 1:-1], pad[2:, 1:-1] - pts), dv)
    n = np.cross(du, dv)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = n / norm
        flip = np.sum(n * pts, -1, keepdims=True) > 0  # face the camera (at the origin)
    n = np.where(flip, -n, n)
    valid = np.isfinite(z) & np.isfinite(n).all(-1) & (norm[..., 0] > 0)
    return pts, n, valid


def _local_planes(points: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre, unit normal and RMS distance from it of each neighbourhood ``points[idx]``."""
    nb = points[idx]
    centre = nb.mean(1)
    d = nb - centre[:, None]
    evals, evecs = np.linalg.eigh(np.einsum("nki,nkj->nij", d, d) / idx.shape[1])
    return centre, evecs[:, :, 0], np.sqrt(np.maximum(evals[:, 0], 0))


def _isolated(dist: np.ndarray) -> np.ndarray:
    """Points whose ``k`` neighbours (distances ``dist``, n x k) lie three times as far as most points':
    flying pixels between a silhouette and the background."""
    spread = dist.mean(1)
    return spread >= 3 * np.median(spread)


def drop_flying_pixels(points: np.ndarray, normals: np.ndarray, k: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """A scan's points and pixel normals, less the isolated points ``smooth_surface`` drops too: the
    sensor's own surface, unbiased by smoothing (for a pose; see ``completion.fit_segment``)."""
    from scipy.spatial import cKDTree

    if len(points) < k + 1:
        return points, normals
    with ieee_denormals():
        keep = ~_isolated(cKDTree(points).query(points, k)[0])
    return points[keep], normals[keep]


def smooth_surface(points: np.ndarray, normals: np.ndarray, k: int = 24) -> tuple[np.ndarray, np.ndarray, float]:
    """Denoise a scan's camera-frame points where it is noisy: returns points, unit normals (facing the
    camera at the origin) and the noise estimated from the scan (the median RMS distance of ``k``
    neighbours from their best-fitting plane).

    A sensor's depth noise (1-2 cm at 2.5-3.5 m) is several times its pixel spacing, so normals from
    neighbouring pixels point anywhere. Where the noise exceeds a third of the spacing, points move onto
    their neighbourhood's plane and take its normal, and isolated points (flying pixels between a
    silhouette and the background) are dropped. A clean scan keeps its points and the pixel normals,
    which follow thin parts (legs) better than a plane through 24 neighbours (measured: a wider
    neighbourhood, sized to average the noise out, blurs the legs and fits worse).

    The estimate follows the noise along the surface normal while that stays under about the pixel spacing
    (sensor scenes: 1.8 / 3.8 / 5.6 mm estimated for 1.8 / 3.5 / 6.1 mm at 1.3-2.7 m), then saturates near the
    spacing, as a plane through 24 neighbours tilts into noise as large as their spread: 7.8 for 10.0 mm at
    3.4 m; a posed render with sigma 0.03 reads 0.010 for 0.022 (neighbours picked by ray direction read lower
    still; 256 of them read it right but take curvature for noise on clean scans). The noise-driven settings
    (``ETA_PER_NOISE``, ``completion.NOISY``, free-space margins) were chosen on this estimate as it is."""
    from scipy.spatial import cKDTree

    if len(points) < k + 1:
        return points, normals, 0.0
    with ieee_denormals():
        dist, idx = cKDTree(points).query(points, k)
    centre, plane_normal, rms = _local_planes(points, idx)
    noise = float(np.median(rms))
    if noise < np.median(dist[:, 1]) / 3:
        return points, normals, noise
    keep = ~_isolated(dist)
    normal = plane_normal[keep]
    normal[np.einsum("ni,ni->n", normal, points[keep]) > 0] *= -1
    p = points[keep] - np.einsum("ni,ni->n", points[keep] - centre[keep], normal)[:, None] * normal
    return p.astype(points.dtype), normal.astype(points.dtype), noise


def add_noise(depth: np.ndarray, sigma: float, kind: str = "depth", seed: int = 0) -> np.ndarray:
    """Gaussian noise on depth (sigma in scene units) or on inverse depth (the paper's supplementary)."""
    if sigma < 0:
        raise ValueError(f"noise sigma must be >= 0, got {sigma}")
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, sigma, size=depth.shape).astype(np.float32)
    if kind == "depth":
        out = depth + noise
    elif kind == "inverse":
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 1.0 / (1.0 / depth + noise)
    else:
        raise ValueError(f"unknown noise kind {kind!r} (depth or inverse)")
    out = out.astype(np.float32)
    out[~(out > 0)] = np.nan
    return out


def add_sensor_noise(depth: np.ndarray, seed: int = 0) -> np.ndarray:
    """Kinect-v1-like axial noise (Nguyen et al. 2012): sigma_z = 0.0012 + 0.0019 (z - 0.4)^2, depth
    in metres (one model unit taken as one metre), plus dropped pixels at grazing silhouettes."""
    rng = np.random.default_rng(seed)
    sigma = 0.0012 + 0.0019 * (np.nan_to_num(depth, nan=0.4) - 0.4) ** 2
    out = (depth + rng.normal(size=depth.shape) * sigma).astype(np.float32)
    edge = np.zeros_like(depth, dtype=bool)
    valid = np.isfinite(depth)
    edge[1:-1, 1:-1] = valid[1:-1, 1:-1] & ~(valid[:-2, 1:-1] & valid[2:, 1:-1] & valid[1:-1, :-2] & valid[1:-1, 2:])
    out[edge & (rng.random(depth.shape) < 0.5)] = np.nan
    out[~(out > 0)] = np.nan
    return out


ETA, ETA_PER_NOISE = 0.02, 2.0  # a scan's SDF samples lie +/- eta off its surface: the paper's 0.02, or twice
# the scan's noise (model units) where that is larger. Within the noise, a sample's side of the surface is a guess,
# and the prior filled in the rest: scene 2027's far chair (noise 0.016, 4 m away) came out with stretchers between
# its legs and a frame back (Chamfer x1e3 6.1; eta 0.032: 3.9, 0.04: 0.58, 0.05: 1.1). With the true pose and mask
# of the three scene sets' 132 chairs (54 with noise over 0.01): mean 0.84 -> 0.78, median 0.400 -> 0.406, worst
# 6.1 -> 4.7, 21 chairs better by 10 % or more and 6 worse; 2.5 times the noise: mean 0.72, median 0.451, 24 better
# and 18 worse. The pose-free shape fits (the 42 scenes with such a chair re-run): median 0.70 / 0.53 / 0.52 ->
# 0.58 / 0.49 / 0.49 over the three sets, 2027's far chair 3.5 -> 0.27. Clean scans (noise ~2e-4) keep 0.02.


def posed_samples(points: np.ndarray, normals: np.ndarray, noise: float, camera_to_model: np.ndarray, eta: float | None = None,
                  free_per_point: int = 1, free_depth: float = 0.3, max_points: int = 20000, seed: int = 0,
                  outside: np.ndarray | None = None) -> FitData:
    """SDF samples in the model's frame for camera-frame points, normals and noise (``smooth_surface``).

    Each observed point gives two samples at +/- ``eta`` along its normal with targets +/- ``eta`` (given, or
    ``ETA``, or ``ETA_PER_NOISE`` times the scan's noise where that is larger);
    ``free_per_point`` samples lie on the camera ray in front of the surface, up to ``free_depth``, where
    the shape must be outside (only a prediction below 0 is penalised). Free space starts 2 ``eta`` plus
    three times the scan's noise in front of each point: nearer, noisy points would carve the shape.
    ``outside``: more camera-frame points known to be outside (``silhouette_free_space``), free rows too.
    """
    points, normals, noise = to_model_frame(points, normals, noise, camera_to_model)
    if eta is None:
        eta = max(ETA, ETA_PER_NOISE * noise)
    xyz, sdf, is_free = observed_samples(points, normals, camera_to_model[:3, 3], eta, free_depth, free_per_point,
                                         max_points, seed, margin=3 * noise)
    if outside is not None and len(outside):
        moved = (outside @ camera_to_model[:3, :3].T + camera_to_model[:3, 3]).astype(np.float32)
        xyz, sdf = np.concatenate([xyz, moved]), np.concatenate([sdf, np.zeros(len(moved), np.float32)])
        is_free = np.concatenate([is_free, np.ones(len(moved), bool)])
    return FitData(torch.from_numpy(xyz), torch.from_numpy(sdf), torch.from_numpy(is_free), noise)


def pixels_around(points: np.ndarray, mask: np.ndarray, grow: float) -> np.ndarray:
    """Camera-frame points (n, 3) of the pixels around an object: in its mask's box grown by ``grow`` of
    the box's size, outside the mask, with depth. What the camera saw beside and through the object."""
    rows, cols = np.nonzero(mask)
    gr, gc = grow * np.ptp(rows), grow * np.ptp(cols)
    r0, r1 = int(max(rows.min() - gr, 0)), int(min(rows.max() + gr + 1, mask.shape[0]))
    c0, c1 = int(max(cols.min() - gc, 0)), int(min(cols.max() + gc + 1, mask.shape[1]))
    box = points[r0:r1, c0:c1].reshape(-1, 3)
    return box[~mask[r0:r1, c0:c1].reshape(-1) & np.isfinite(box).all(1)]


def silhouette_free_space(points: np.ndarray, mask: np.ndarray, margin: float, grow: float = 0.3,
                          max_rows: int = 3000, seed: int = 0) -> np.ndarray:
    """Camera-frame points known to lie outside an object: on the rays of the pixels around its mask
    (its box grown by ``grow`` of its size), from just in front of the object to ``margin`` short of what
    those rays hit, or past the object's far side. What the camera saw behind the object's outline is
    not the object: a shape turned the wrong way sticks out of its silhouette and lands in these rows.
    Rays that hit something nearer than the object (an occluder) or nothing say nothing and give none.

    ``points`` (H, W, 3) with NaN where there is no depth, ``mask`` (H, W) the object's pixels."""
    seen = points[mask]
    seen = seen[np.isfinite(seen).all(1)]  # a mask may hold pixels without depth (dropouts)
    if len(seen) == 0:
        return np.zeros((0, 3), np.float32)
    near, far = np.percentile(np.linalg.norm(seen, axis=-1), [1, 99])
    size = float(np.ptp(seen, axis=0).max())
    box = pixels_around(points, mask, grow)
    depth = np.linalg.norm(box, axis=1)
    start, stop = near - 0.2 * size, np.minimum(depth - margin, far + 0.5 * size)
    keep = (depth > near - margin) & (stop > start)  # nothing in front of the object on this ray
    box, depth, stop = box[keep], depth[keep], stop[keep]
    rng = np.random.default_rng(seed)
    if len(box) > max_rows:
        pick = rng.choice(len(box), max_rows, replace=False)
        box, depth, stop = box[pick], depth[pick], stop[pick]
    along = rng.uniform(start, stop)
    return (box / depth[:, None] * along[:, None]).astype(np.float32)


def sticking_out(mesh, points: np.ndarray, mask: np.ndarray, margin: float, grow: float = 0.3) -> float:
    """How far a shape sticks out of an object's outline: the pixels around ``mask`` (its box grown by
    ``grow`` of its size) where ``mesh`` (a trimesh in the camera frame) stands more than ``margin`` in
    front of what the camera saw, per pixel of the object. Counted densely over the image, where a fit
    only holds the sparse free-space rows of ``silhouette_free_space``: a solid back where the camera saw
    the wall through the frame, a stretcher across the floor between the legs. Pixels without depth say
    nothing. ``points`` (H, W, 3) camera-frame, NaN where there is no depth."""
    seen = mask & np.isfinite(points).all(-1)
    if not seen.any():
        raise DataError("sticking_out: the object's mask holds no pixel with depth")
    if len(mesh.faces) == 0:
        return float("inf")  # an empty shape explains none of the object's pixels
    box = pixels_around(points, mask, grow)
    depth = np.linalg.norm(box, axis=1)
    hits, ray, _ = mesh.ray.intersects_location(np.zeros_like(box), box / depth[:, None], multiple_hits=False)
    return float((np.linalg.norm(hits, axis=1) < depth[ray] - margin).sum() / seen.sum())


def observed_samples(points: np.ndarray, normals: np.ndarray, centre: np.ndarray, eta: float, free_depth: float,
                     free_per_point: int = 1, max_points: int = 20000, seed: int = 0,
                     margin: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The paper's samples for observed surface points (at most ``max_points``, drawn at random): two at
    +/- ``eta`` along each normal with targets +/- ``eta``, and ``free_per_point`` on the ray from the
    camera ``centre``, 2*eta + ``margin`` to ``free_depth`` in front of the point (target 0, a lower bound).
    Returns float32 xyz (n, 3), float32 sdf (n,) and the bool free-space mask (n,), in the points' frame."""
    rng = np.random.default_rng(seed)
    if len(points) > max_points:
        keep = rng.choice(len(points), max_points, replace=False)
        points, normals = points[keep], normals[keep]
    rays = points - centre
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    back = rng.uniform(2 * eta + margin, max(free_depth, 2 * eta + 2 * margin), size=(len(points), free_per_point))
    free = (points[:, None, :] - rays[:, None, :] * back[..., None]).reshape(-1, 3)
    xyz = np.concatenate([points + eta * normals, points - eta * normals, free]).astype(np.float32)
    sdf = np.concatenate([np.full(len(points), eta), np.full(len(points), -eta), np.zeros(len(free))]).astype(np.float32)
    is_free = np.concatenate([np.zeros(2 * len(points), bool), np.ones(len(free), bool)])
    return xyz, sdf, is_free


def look_at_pose(azimuth_deg: float, elevation_deg: float, distance: float = 2.5) -> np.ndarray:
    """Camera-to-model pose of an OpenCV camera on a sphere around the origin, looking at it.

    Azimuth turns about +y from the +z (front) direction; elevation lifts the camera towards +y.
    """
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    eye = distance * np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])
    return looking_at(eye, np.zeros(3))


def looking_at(eye: np.ndarray, target: np.ndarray, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """Pose (camera-to-world) of an OpenCV camera (x right, y down, z forward) at ``eye`` looking at
    ``target``, its image's up towards ``up`` (tilt ``up`` to roll it; looking along ``up``, x is +x)."""
    forward = target - eye
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-6:
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, np.cross(forward, right), forward, eye
    return pose


def render_depth(mesh, camera: Camera, camera_to_model: np.ndarray) -> np.ndarray:
    """Ray-cast a depth image of a trimesh mesh (model frame) from the given camera; NaN = background.
    ``camera_to_model`` may be a Sim(3): the depth comes back in the camera's units."""
    import trimesh

    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise DataError("render_depth needs a non-empty triangle mesh")
    H, W = camera.height, camera.width
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    dirs_cam = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u, float)], -1).reshape(-1, 3)
    R, t = camera_to_model[:3, :3], camera_to_model[:3, 3]
    dirs = dirs_cam @ R.T
    origins = np.broadcast_to(t, dirs.shape)
    locations, index_ray, _ = mesh.ray.intersects_location(origins, dirs, multiple_hits=False)
    depth = np.full(H * W, np.nan, np.float32)
    z = (locations - t) @ R[:, 2] / sim3_scale(camera_to_model) ** 2  # camera-frame z of each hit
    order = np.argsort(-z)  # nearest hit written last
    depth[index_ray[order]] = z[order]
    return depth.reshape(H, W)
