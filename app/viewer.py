"""The 3D view: one pyvista PolyData updated in place inside a pyvistaqt interactor."""
from __future__ import annotations

import numpy as np
import pyvista as pv
from pyvistaqt import QtInteractor
from PySide6.QtWidgets import QVBoxLayout, QWidget

from core.meshing import SurfaceMesh
from core.render import CAMERA, COLOR, polydata


class Viewer(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        # no MSAA: costly on software GL (llvmpipe); no auto-update timer: it re-rendered 5 times a second
        # (~30 ms each on the GUI thread) while nothing changed. Every change below renders explicitly.
        self.plotter = QtInteractor(self, multi_samples=1, auto_update=False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plotter.interactor)
        self.plotter.set_background("white", top="#dde6f0")
        self.poly = pv.PolyData()
        self.actor = None
        self.mesh: SurfaceMesh | None = None
        self._framed = False
        self.wireframe = False
        self.points = pv.PolyData()
        self.points_actor = None

    def set_mesh(self, mesh: SurfaceMesh) -> None:
        self.mesh = mesh
        if mesh.is_empty:
            if self.actor is not None:
                self.actor.SetVisibility(False)
            self.plotter.render()
            return
        self.poly.copy_from(polydata(mesh))
        self.poly.compute_normals(inplace=True, auto_orient_normals=False, consistent_normals=False,
                                  split_vertices=False)
        if self.actor is None:
            self.actor = self.plotter.add_mesh(self.poly, color=COLOR, smooth_shading=True,
                                               style="wireframe" if self.wireframe else "surface")
        self.actor.SetVisibility(True)
        if not self._framed:
            self.reset_camera()
            self._framed = True
        self.plotter.render()

    def set_points(self, points: np.ndarray | None) -> None:
        """Overlay scan points (model frame); None hides them."""
        if points is None or len(points) == 0:
            if self.points_actor is not None:
                self.points_actor.SetVisibility(False)
                self.plotter.render()
            return
        self.points.copy_from(pv.PolyData(np.asarray(points, np.float32)))
        if self.points_actor is None:
            self.points_actor = self.plotter.add_mesh(self.points, color="#1f5fd0", point_size=3,
                                                      render_points_as_spheres=False)
        self.points_actor.SetVisibility(True)
        if not self._framed:
            self.reset_camera()
            self._framed = True
        self.plotter.render()

    def set_wireframe(self, on: bool) -> None:
        self.wireframe = on
        if self.actor is not None:
            self.actor.prop.style = "wireframe" if on else "surface"
            self.plotter.render()

    def reset_camera(self) -> None:
        self.plotter.camera_position = CAMERA
        self.plotter.reset_camera()
        self.plotter.render()

    def screenshot(self, path: str) -> None:
        self.plotter.screenshot(path)

    def face_count(self) -> int:
        return 0 if self.actor is None or not self.actor.GetVisibility() else self.poly.n_cells

    def close(self) -> bool:
        self.plotter.close()
        return super().close()
