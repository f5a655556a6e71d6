"""Off-screen pictures of meshes (README grids, thumbnails, turntables) through pyvista."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from .fileio import atomic_write
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

        if not os.environ.get("DISPLAY") and os.name == "posix" and shutil.which("Xvfb"):
            pv.start_xvfb()  # a headless machine: render into a virtual display
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
        if azimuth:
            p.camera.Azimuth(azimuth)  # relative to CAMERA (pyvista's .azimuth property remembers the last value)
        p.render()  # screenshot() re-renders only the first time: without this it returns the previous frame
        return p.screenshot(return_img=True)

    def close(self) -> None:
        self.plotter.close()


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
