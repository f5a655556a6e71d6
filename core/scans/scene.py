"""Synthetic sensor scenes: shapes standing on a floor in a room, seen by a noisy depth camera.

The test data for pose-free completion: objects of metric size at random positions and yaws, a floor, a
wall or two and a distractor box, a camera 1.2-1.8 m high and 1.5-3.5 m away looking down 10-35 degrees,
and Kinect-like sensor noise. The fitter gets the depth image and the intrinsics only; the ground truth
(each object's name, model-to-camera Sim(3) and pixel mask) is written apart, for evaluation.

World frame: metres, y up, the floor at y = 0. Camera frame: OpenCV (x right, y down, z forward).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from .scan import Camera, looking_at

HEIGHTS = (0.75, 1.0)  # metres: the height of a chair


@dataclass
class SceneObject:
    name: str
    model_to_camera: np.ndarray  # (4, 4) Sim(3): model (normalised) frame -> camera frame, metres
    label: int  # its value in the label image


@dataclass
class SceneRender:
    depth: np.ndarray  # (H, W) float32 metres, NaN = no return
    labels: np.ndarray  # (H, W) uint8: 0 background (floor, walls, box), k = objects[k - 1]
    camera: Camera
    objects: list[SceneObject]
    camera_to_world: np.ndarray


def sensor_camera(width: int = 640, height: int = 480) -> Camera:
    """A Kinect-like camera (525 px focal length at 640 x 480, scaled with the width)."""
    f = 525.0 * width / 640
    return Camera(f, f, (width - 1) / 2, (height - 1) / 2, width, height)


def _yaw(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _place(meshes: list[trimesh.Trimesh], rng: np.random.Generator) -> list[np.ndarray]:
    """Model-to-world Sim(3) of each (normalised) mesh: standing on the floor, random yaw, apart."""
    poses, spots = [], []
    for mesh in meshes:
        lo, hi = mesh.bounds
        scale = rng.uniform(*HEIGHTS) / (hi[1] - lo[1])
        radius = scale * np.linalg.norm((hi - lo)[[0, 2]]) / 2
        for _ in range(200):  # a free spot on the floor
            xz = rng.uniform(-0.8, 0.8, 2) * (0.4 + 0.3 * len(meshes))
            if all(np.linalg.norm(xz - p) > radius + r + 0.05 for p, r in spots):
                break
        spots.append((xz, radius))
        pose = np.eye(4)
        pose[:3, :3] = _yaw(rng.uniform(0, 2 * np.pi)) * scale
        pose[:3, 3] = [xz[0], -scale * lo[1], xz[1]]
        poses.append(pose)
    return poses


def _room(rng: np.random.Generator, spots: np.ndarray, eye: np.ndarray) -> list[trimesh.Trimesh]:
    """Floor, a wall behind the objects, maybe one to a side (beyond the camera too, so it never blocks
    the view), and a box beside the objects."""
    floor = trimesh.creation.box(extents=(12, 0.02, 12)).apply_translation([0, -0.01, 0])
    parts = [floor]
    back = spots[:, 2].min() - rng.uniform(0.8, 1.6)
    parts.append(trimesh.creation.box(extents=(12, 3, 0.05)).apply_translation([0, 1.5, back]))
    if rng.random() < 0.5:
        side = rng.choice([-1, 1]) * (max(np.abs(spots[:, 0]).max(), abs(eye[0])) + rng.uniform(1.0, 2.0))
        parts.append(trimesh.creation.box(extents=(0.05, 3, 12)).apply_translation([side, 1.5, 0]))
    size = rng.uniform(0.3, 0.6, 3)
    x = spots[:, 0].max() + rng.uniform(0.6, 1.0) + size[0] / 2
    box = trimesh.creation.box(extents=size).apply_transform(
        np.block([[_yaw(rng.uniform(0, np.pi)), np.array([[x], [size[1] / 2], [rng.uniform(-0.5, 0.5)]])],
                  [np.zeros((1, 3)), np.ones((1, 1))]]))
    return parts + [box]


def _camera_pose(rng: np.random.Generator, target_xz: np.ndarray) -> np.ndarray:
    """Camera-to-world: 1.2-1.8 m high, 1.5-3.5 m from the objects, looking down 10-35 degrees."""
    while True:
        height, dist, pitch = rng.uniform(1.2, 1.8), rng.uniform(1.5, 3.5), np.radians(rng.uniform(10, 35))
        target_y = height - dist * np.tan(pitch)
        if 0.0 <= target_y <= 0.7:
            break
    az = rng.uniform(-np.pi / 3, np.pi / 3)  # from the front half of the room (the wall is behind)
    eye = np.array([target_xz[0] + dist * np.sin(az), height, target_xz[1] + dist * np.cos(az)])
    return looking_at(eye, np.array([target_xz[0], target_y, target_xz[1]]))


def render_scene(meshes: list[trimesh.Trimesh], names: list[str], seed: int = 0, camera: Camera | None = None,
                 noise: bool = True) -> SceneRender:
    """Place ``meshes`` (normalised, canonical pose) in a random room and ray-cast a depth image."""
    return render_sweep(meshes, names, seed, camera, noise, views=1)[0]


def render_sweep(meshes: list[trimesh.Trimesh], names: list[str], seed: int = 0, camera: Camera | None = None,
                 noise: bool = True, views: int = 3, spread: float = 120.0) -> list[SceneRender]:
    """``render_scene`` from ``views`` cameras at one height and distance, their azimuths spread over
    ``spread`` degrees around the objects: a sensor's sweep of one room, each frame with its true
    camera-to-world pose (``SceneRender.camera_to_world``)."""
    rng = np.random.default_rng(seed)
    camera = camera or sensor_camera()
    poses = _place(meshes, rng)
    objects = [m.copy().apply_transform(p) for m, p in zip(meshes, poses)]
    centre = np.mean([p[:3, 3][[0, 2]] for p in poses], axis=0)
    first = _camera_pose(rng, centre)
    room = _room(rng, np.array([p[:3, 3] for p in poses]), first[:3, 3])
    everything = trimesh.util.concatenate(objects + room)
    owner = np.concatenate([np.full(len(m.faces), k + 1) for k, m in enumerate(objects)] +
                           [np.zeros(len(m.faces), int) for m in room])
    cams = [first]
    if views > 1:  # the same eye height and distance, turned about the objects' centre
        eye, target = first[:3, 3], first[:3, 3] + first[:3, 2] * np.linalg.norm(first[:3, 3][[0, 2]] - centre) / \
            np.linalg.norm(first[:3, 2][[0, 2]])
        offset = eye[[0, 2]] - centre
        cams = []
        for angle in np.radians(np.linspace(-spread / 2, spread / 2, views)):
            c, s_ = np.cos(angle), np.sin(angle)
            xz = centre + np.array([c * offset[0] + s_ * offset[1], -s_ * offset[0] + c * offset[1]])
            cams.append(looking_at(np.array([xz[0], eye[1], xz[1]]), np.array([centre[0], target[1], centre[1]])))
    renders = []
    for cam in cams:
        depth, tri, cos = _cast(everything, camera, cam, rng if noise else None)
        labels = np.where(tri >= 0, owner[np.maximum(tri, 0)], 0).astype(np.uint8)
        if noise:
            depth = sensor_noise(depth, cos, rng)
        world_to_cam = np.linalg.inv(cam)
        scene_objects = [SceneObject(n, world_to_cam @ p, k + 1) for k, (n, p) in enumerate(zip(names, poses))]
        renders.append(SceneRender(depth, labels, camera, scene_objects, cam))
    return renders


def _cast(mesh: trimesh.Trimesh, camera: Camera, cam_to_world: np.ndarray, rng: np.random.Generator | None):
    """Depth (z), hit triangle (-1: none) and |cos| between ray and surface normal, per pixel. With ``rng``
    the rays are jittered by a Gaussian of 0.3 px (lateral noise)."""
    H, W = camera.height, camera.width
    v, u = np.mgrid[0:H, 0:W].astype(float)
    if rng is not None:
        u, v = u + rng.normal(0, 0.3, u.shape), v + rng.normal(0, 0.3, v.shape)
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], -1).reshape(-1, 3)
    R, t = cam_to_world[:3, :3], cam_to_world[:3, 3]
    dirs = rays @ R.T
    dirs_unit = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    loc, ray, tri = mesh.ray.intersects_location(np.broadcast_to(t, dirs.shape), dirs, multiple_hits=False)
    depth = np.full(H * W, np.nan, np.float32)
    hit = np.full(H * W, -1)
    cos = np.zeros(H * W, np.float32)
    depth[ray] = (loc - t) @ R[:, 2]
    hit[ray] = tri
    cos[ray] = np.abs(np.einsum("ij,ij->i", mesh.face_normals[tri], dirs_unit[ray]))
    return depth.reshape(H, W), hit.reshape(H, W), cos.reshape(H, W)


def sensor_noise(depth: np.ndarray, cos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Kinect-like: axial sigma(z) = 0.0012 + 0.0019 (z - 0.4)^2 m (Nguyen et al. 2012), no return at
    grazing angles, flying pixels between foreground and background at depth edges, 1 mm quantisation."""
    z = depth.copy()
    sigma = 0.0012 + 0.0019 * (np.nan_to_num(z, nan=0.4) - 0.4) ** 2
    z = z + rng.normal(size=z.shape) * sigma
    grazing = cos < 0.2  # beyond ~78 degrees
    z[grazing & (rng.random(z.shape) < (0.2 - cos) / 0.2)] = np.nan
    pad = np.pad(depth, 1, constant_values=np.nan)
    neighbours = np.stack([pad[:-2, 1:-1], pad[2:, 1:-1], pad[1:-1, :-2], pad[1:-1, 2:]])
    far = np.nanmax(np.where(np.isfinite(neighbours), neighbours, -np.inf), axis=0)
    edge = np.isfinite(depth) & (far - depth > 0.1)  # a foreground pixel beside a farther surface
    flying = edge & (rng.random(z.shape) < 0.3)
    mix = rng.random(z.shape)
    z[flying] = (depth + mix * (far - depth))[flying]
    z = np.round(z * 1000) / 1000
    z[~(z > 0)] = np.nan
    return z.astype(np.float32)


def save_scene(render: SceneRender, path, depth_scale: float = 1000.0):
    """The depth as a 16-bit PNG in mm, its sidecar with the intrinsics only (what a sensor gives), and
    the ground truth apart: ``ground_truth`` in the sidecar (per object: name, model-to-camera Sim(3),
    label) and a label image ``<name>_labels.png`` (0 background, k object k) that only evaluation reads."""
    import json
    from pathlib import Path

    import imageio.v3 as iio

    from core.fileio import atomic_write
    from .scan import sidecar_path, write_depth_png

    path = write_depth_png(render.depth, path, depth_scale)
    labels = Path(path).with_name(Path(path).stem + "_labels.png")
    atomic_write(labels, lambda tmp: iio.imwrite(tmp, render.labels))
    meta = {"intrinsics": render.camera.to_dict(), "depth_scale": depth_scale,
            "ground_truth": {"labels": labels.name, "camera_to_world": render.camera_to_world.tolist(),
                             "objects": [{"name": o.name, "model_to_camera": o.model_to_camera.tolist(), "label": o.label}
                                         for o in render.objects]}}
    atomic_write(sidecar_path(path), lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
    return path


def save_sweep(renders: list[SceneRender], folder, depth_scale: float = 1000.0, invert: bool = False):
    """A sweep (``render_sweep``) as 7-Scenes lays a sequence out: ``frame-000000.depth.png`` (16-bit, mm) and
    ``frame-000000.pose.txt`` (4x4 camera-to-world; ``invert``: world-to-camera, a wrong convention) per frame,
    and the intrinsics in ``sensor.json``."""
    import json
    from pathlib import Path

    from .scan import write_depth_png

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sensor.json").write_text(json.dumps({"intrinsics": renders[0].camera.to_dict(),
                                                    "depth": {"per_metre": depth_scale}}))
    for k, r in enumerate(renders):
        write_depth_png(r.depth, folder / f"frame-{k:06d}.depth.png", depth_scale)
        np.savetxt(folder / f"frame-{k:06d}.pose.txt", np.linalg.inv(r.camera_to_world) if invert else r.camera_to_world)
    return folder
