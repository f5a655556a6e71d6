"""The 3D view: one pyvista PolyData updated in place inside a pyvistaqt interactor."""
from __future__ import annotations

import numpy as np
import pyvista as pv
from pyvistaqt import QtInteractor
from PySide6.QtWidgets import QVBoxLayout, QWidget

from core.meshing import SurfaceMesh
from core.render import CAMERA, COLOR, polydata

POINTS_COLOR = "#1f5fd0"
MAX_SHOWN_POINTS = 25_000  # a 320x240 scan has ~75k; a third of them looks the same and renders ~10 ms sooner


class Viewer(QWidget):
    """Every change asks the view widget to repaint (``update_view``): Qt merges the requests into one
    paint, and the widget's paint renders the scene. A render costs ~30 ms on software GL, so several
    changes in one turn (a new scan: points, noise, a mesh) must not each pay it, and ``plotter.render()``
    is never called: it renders at once *and* schedules the widget's paint, which renders again."""

    def __init__(self, parent=None):
        super().__init__(parent)
        # no MSAA: costly on software GL (llvmpipe); no auto-update timer: it re-rendered 5 times a second
        # (~30 ms each on the GUI thread) while nothing changed.
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
        self.show_points = True  # View ▸ Scan points
        self._has_scan = False

    def update_view(self) -> None:
        self.plotter.interactor.update()

    def set_mesh(self, mesh: SurfaceMesh) -> None:
        self.mesh = mesh
        if mesh.is_empty:
            if self.actor is not None:
                self.actor.SetVisibility(False)
            self.update_view()
            return
        self.poly.copy_from(polydata(mesh))
        self.poly.point_data.set_array(mesh.normals, "Normals")  # made in the worker (mesh.normals is cached)
        self.poly.point_data.active_normals_name = "Normals"
        if self.actor is None:
            self.actor = self.plotter.add_mesh(self.poly, color=COLOR, smooth_shading=True, render=False,
                                               style="wireframe" if self.wireframe else "surface")
            self._warm_points(mesh.vertices[:1])
        elif self.points_actor is not None and not self._has_scan:
            self.points_actor.SetVisibility(False)  # the warm-up point (see _warm_points) has done its job
        self.actor.SetVisibility(True)
        if not self._framed:
            self.reset_camera()
            self._framed = True
        self.update_view()

    def _warm_points(self, vertex: np.ndarray) -> None:
        """Draw one surface-coloured point on the first frame: compiling the point shaders then, not
        when the first scan opens, saves that moment ~50 ms. Hidden again with the next mesh."""
        self.set_points(vertex)
        self._has_scan = False
        self.points_actor.SetVisibility(True)
        self.points_actor.prop.color = COLOR
        self.points_actor.prop.point_size = 1

    def set_points(self, points: np.ndarray | None) -> None:
        """Overlay scan points (model frame), thinned to MAX_SHOWN_POINTS; None hides them."""
        self._has_scan = points is not None and len(points) > 0
        if not self._has_scan:
            if self.points_actor is not None:
                self.points_actor.SetVisibility(False)
                self.update_view()
            return
        if len(points) > MAX_SHOWN_POINTS:  # a fixed random subset (a stride would draw stripes)
            points = points[np.random.default_rng(0).choice(len(points), MAX_SHOWN_POINTS, replace=False)]
        self.points.copy_from(pv.PolyData(np.asarray(points, np.float32)))
        if self.points_actor is None:
            self.points_actor = self.plotter.add_mesh(self.points, render_points_as_spheres=False, render=False)
        self.points_actor.prop.color = POINTS_COLOR
        self.points_actor.prop.point_size = 3
        self.points_actor.SetVisibility(self.show_points)
        if not self._framed:
            self.reset_camera()
            self._framed = True
        self.update_view()

    def set_points_visible(self, on: bool) -> None:
        self.show_points = on
        if self.points_actor is not None and self._has_scan:
            self.points_actor.SetVisibility(on)
            self.update_view()

    def set_wireframe(self, on: bool) -> None:
        self.wireframe = on
        if self.actor is not None:
            self.actor.prop.style = "wireframe" if on else "surface"
            self.update_view()

    def reset_camera(self) -> None:
        self.plotter.renderer.camera_position = CAMERA
        self.plotter.renderer.reset_camera(render=False)
        self.update_view()

    def screenshot(self, path: str) -> None:
        self.plotter.screenshot(path)

    def face_count(self) -> int:
        return 0 if self.actor is None or not self.actor.GetVisibility() else self.poly.n_cells

    def close(self) -> bool:
        self.plotter.close()
        return super().close()
