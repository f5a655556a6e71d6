"""Pictures of meshes: off-screen through pyvista (README grids, turntables, exports) and a small
torch rasteriser for thumbnails, which are made in worker threads where GL cannot render."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from core.fileio import atomic_write
from .meshing import SurfaceMesh

CAMERA = [(1.8, 1.2, 2.6), (0.0, 0.0, 0.0), (0.0, 1.0, 0.0)]  # front-left, slightly above (y up, front +z)
COLOR = "#d8b48a"


def polydata(mesh: SurfaceMesh):
    """The mesh as a pyvista PolyData (VTK's flat face list: 3, i, j, k, 3, …)."""
    import pyvista as pv

    faces = np.hstack([np.full((len(mesh.faces), 1), 3), mesh.faces]).ravel()
    return pv.PolyData(mesh.vertices, faces)


class OffscreenRenderer:
    """One off-screen plotter reused for many pictures: creating one and its first picture cost
    ~1 s (GL context, shaders), each later picture a few milliseconds. Not thread-safe: use it on
    one thread (the GUI thread in the app)."""

    def __init__(self, size: tuple[int, int] = (480, 480), background: str = "white"):
        import pyvista as pv

        if os.name == "posix" and not os.environ.get("DISPLAY"):
            # a headless machine: VTK >= 9.4 renders through EGL (or OSMesa) without an X server
            os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
        self.plotter = pv.Plotter(off_screen=True, window_size=list(size))
        self.plotter.set_background(background)
        self._actor = None
        sphere = pv.Sphere()
        # pay the first-picture cost now, through the very pipeline later pictures take (same shaders)
        self.image(SurfaceMesh(np.asarray(sphere.points, np.float32), sphere.regular_faces.astype(np.int64)), fit=True)

    def image(self, mesh: SurfaceMesh, azimuth: float = 0.0, size: tuple[int, int] | None = None,
              fit: bool = False) -> np.ndarray:
        """RGB picture of ``mesh`` from the standard camera turned by ``azimuth`` degrees about y;
        ``fit`` zooms onto the mesh (thumbnails), else the unit sphere fills the view (sequences line up)."""
        p = self.plotter
        if size is not None and tuple(p.window_size) != tuple(size):
            p.window_size = list(size)
        if self._actor is not None:
            p.remove_actor(self._actor)
            self._actor = None
        if not mesh.is_empty:
            self._actor = p.add_mesh(polydata(mesh), color=COLOR, smooth_shading=True, split_sharp_edges=True)
        p.camera_position = CAMERA
        if fit and not mesh.is_empty:
            p.reset_camera()
            p.camera.zoom(1.2)  # reset_camera frames the bounding sphere, loosely
        else:  # the unit sphere just fills the view (from CAMERA itself a chair's feet and back were cut off)
            eye, target = np.array(CAMERA[0]), np.array(CAMERA[1])
            ray = (eye - target) / np.linalg.norm(eye - target)
            p.camera.position = tuple(target + ray * 1.05 / np.sin(np.radians(p.camera.view_angle / 2)))
            p.reset_camera_clipping_range()
        if azimuth:
            p.camera.Azimuth(azimuth)  # relative to CAMERA (pyvista's .azimuth property remembers the last value)
        p.render()  # screenshot() re-renders only the first time: without this it returns the previous frame
        return p.screenshot(return_img=True)

    def close(self) -> None:
        self.plotter.close()


def _hex_rgb(color: str) -> torch.Tensor:
    return torch.tensor([int(color[k:k + 2], 16) / 255.0 for k in (1, 3, 5)])


def raster_image(mesh: SurfaceMesh, size: tuple[int, int] = (96, 96), supersample: int = 2,
                 camera=CAMERA, fov: float = 30.0, fit: bool = True) -> np.ndarray:
    """RGB picture (H, W, 3) uint8 of ``mesh`` by z-buffer rasterisation in torch, smooth-shaded by a
    light over the camera. Thread-safe and GL-free (torch releases the GIL), so a worker thread can make
    it; the pyvista pictures need the GUI thread. ``fit`` frames the mesh's bounding sphere, else the
    unit sphere."""
    if mesh.is_empty:
        return np.full((size[1], size[0], 3), 255, np.uint8)
    w, h = size[0] * supersample, size[1] * supersample
    v = torch.as_tensor(mesh.vertices, dtype=torch.float32)
    f = torch.as_tensor(mesh.faces, dtype=torch.int64)
    eye, target, up = (torch.tensor(c, dtype=torch.float32) for c in camera)
    centre = 0.5 * (v.min(0).values + v.max(0).values) if fit else target
    radius = float((v - centre).norm(dim=1).max()) if fit else 1.0
    forward = torch.nn.functional.normalize(centre - eye, dim=0)
    right = torch.nn.functional.normalize(torch.linalg.cross(forward, up), dim=0)
    true_up = torch.linalg.cross(right, forward)
    # move the eye along its ray so that the bounding sphere just fills the field of view
    eye = centre - forward * (radius / np.sin(np.radians(fov / 2)) * (0.95 if fit else 1.05))  # a bounding sphere is loose
    cam = (v - eye) @ torch.stack([right, true_up, forward], 1)  # (V, 3): x right, y up, z depth
    focal = 0.5 * min(w, h) / np.tan(np.radians(fov / 2))
    px = torch.stack([0.5 * w + focal * cam[:, 0] / cam[:, 2] - 0.5,
                      0.5 * h - focal * cam[:, 1] / cam[:, 2] - 0.5], 1)
    tri, inv_z = px[f], (1.0 / cam[:, 2])[f]  # (F, 3, 2), (F, 3)
    lo = tri.min(1).values.ceil()
    span = int((tri.max(1).values.floor() - lo).max().clamp(min=0)) + 1
    dy, dx = torch.meshgrid(torch.arange(span), torch.arange(span), indexing="ij")
    zbuf = torch.full((h * w,), float("inf"))
    hits = []
    step = max(1, 2**20 // span**2)  # faces per block: bounded memory however big the triangles
    for s in range(0, len(f), step):
        t, lo_s = tri[s:s + step], lo[s:s + step]
        p = lo_s[:, None, :] + torch.stack([dx.ravel(), dy.ravel()], 1)[None].float()  # (n, span², 2)
        a, b, c = t[:, 0, None], t[:, 1, None], t[:, 2, None]
        area = _edge(a, b, c)
        bary = torch.stack([_edge(b, c, p), _edge(c, a, p), _edge(a, b, p)], -1) / area[..., None]
        inside = (bary >= -1e-6).all(-1) & (area.abs() > 1e-12) & (p[..., 0] >= 0) & (p[..., 0] < w) & (p[..., 1] >= 0) & (p[..., 1] < h)
        face, slot = inside.nonzero(as_tuple=True)
        key = (p[face, slot, 1] * w + p[face, slot, 0]).long()
        weights = bary[face, slot]
        depth = 1.0 / (weights * inv_z[s + face]).sum(1)  # perspective-correct
        zbuf.scatter_reduce_(0, key, depth, "amin")
        hits.append((key, depth, s + face, weights))
    normals = torch.from_numpy(mesh.normals)
    color = torch.ones(h * w, 3)  # white background
    base = _hex_rgb(COLOR)
    light = torch.nn.functional.normalize(0.6 * true_up - forward, dim=0)  # from the camera, a little above
    for key, depth, face, weights in hits:
        won = depth <= zbuf[key]
        n = torch.nn.functional.normalize((weights[won, :, None] * normals[f[face[won]]]).sum(1), dim=1)
        lambert = (n @ light).abs()  # two-sided: open or inverted surfaces still read as surfaces
        color[key[won]] = (base * (0.3 + 0.7 * lambert[:, None]) + 0.25 * lambert[:, None] ** 24).clamp(0, 1)
    image = color.reshape(h, w, 3).permute(2, 0, 1)[None]
    image = torch.nn.functional.avg_pool2d(image, supersample)[0].permute(1, 2, 0)
    return (image * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()


def _edge(a: torch.Tensor, b: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Twice the signed area of (a, b, p): the barycentric weight of the third corner, unnormalised."""
    return (b[..., 0] - a[..., 0]) * (p[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (p[..., 0] - a[..., 0])


def render_images(meshes: list[SurfaceMesh], size=(480, 480), azimuths=None) -> list[np.ndarray]:
    """One RGB image per mesh (or per azimuth in degrees for a single mesh), same camera."""
    r = OffscreenRenderer(size)
    items = [(m, 0.0) for m in meshes] if azimuths is None else [(meshes[0], a) for a in azimuths]
    frames = [r.image(mesh, az) for mesh, az in items]
    r.close()
    return frames


def turntable_azimuths(frames: int = 36) -> np.ndarray:
    return np.linspace(0.0, 360.0, frames, endpoint=False)


def save_animation(frames: list[np.ndarray], path: str | Path, fps: int = 12) -> Path:
    """GIF or MP4 (by extension) through imageio, written atomically."""
    import imageio.v3 as iio

    path = Path(path)
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise ValueError(f"{path}: animations are .gif or .mp4")
    kwargs = {"duration": 1000 / fps, "loop": 0} if path.suffix.lower() == ".gif" else {"fps": fps}
    return atomic_write(path, lambda tmp: iio.imwrite(tmp, np.stack(frames), **kwargs))


def save_grid(meshes: list[SurfaceMesh], path: str | Path, cols: int = 4, cell: int = 250) -> Path:
    import imageio.v3 as iio

    images = render_images(meshes, (cell, cell))
    rows = -(-len(images) // cols)
    blank = np.full_like(images[0], 255)
    images += [blank] * (rows * cols - len(images))
    grid = np.vstack([np.hstack(images[r * cols:(r + 1) * cols]) for r in range(rows)])
    return atomic_write(path, lambda tmp: iio.imwrite(tmp, grid))
