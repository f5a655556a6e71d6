"""The 3D view: one pyvista PolyData updated in place inside a pyvistaqt interactor."""
from __future__ import annotations

import numpy as np
import pyvista as pv
from pyvistaqt import QtInteractor
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from core.fileio import atomic_write
from core.mesh.meshing import SurfaceMesh
from core.mesh.render import CAMERA, COLOR, polydata

POINTS_COLOR = "#1f5fd0"
MAX_SHOWN_POINTS = 25_000  # a 320x240 scan has ~75k; a third of them looks the same and renders ~10 ms sooner
CLICK_PIXELS = 4  # a press and release closer than this is a click, not a turn of the view
PICK_PIXELS = 6  # a click picks the nearest point drawn within this many pixels of it


class Viewer(QWidget):
    """Every change asks the view widget to repaint (``update_view``): Qt merges the requests into one
    paint, and the widget's paint renders the scene. A render costs ~30 ms on software GL, so several
    changes in one turn (a new scan: points, noise, a mesh) must not each pay it, and ``plotter.render()``
    is never called: it renders at once *and* schedules the widget's paint, which renders again.

    A left click (not a drag) on a drawn scan point emits ``pointPicked`` with its index in the points
    given to ``set_points`` and whether Ctrl was held."""

    pointPicked = Signal(int, bool)

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
        self.scan_frame = False  # a sensor's scene is shown in its camera's frame (set_scan_frame)
        self.scan_half_tan = (np.tan(np.radians(22.5)), np.tan(np.radians(22.5)))  # the depth camera's, across and up
        self._shown = np.zeros(0, int)  # index in the given points of each point drawn
        self.labels: list[str] = []  # the notes written in the view (set_labels)
        self._press: tuple[int, int] | None = None
        self.plotter.iren.add_observer("LeftButtonPressEvent", self._on_press)
        self.plotter.iren.add_observer("LeftButtonReleaseEvent", self._on_release)

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

    def set_points(self, points: np.ndarray | None, colors: np.ndarray | None = None) -> None:
        """Overlay scan points (in the frame of the mesh shown), thinned to MAX_SHOWN_POINTS, one colour or
        an RGB (n, 3) uint8 per point; None hides them."""
        self._has_scan = points is not None and len(points) > 0
        if not self._has_scan:
            if self.labels:  # they name parts of the scan
                self.set_labels(np.zeros((0, 3)), [])
            if self.points_actor is not None:
                self.points_actor.SetVisibility(False)
                self.update_view()
            return
        self._shown = np.arange(len(points))
        if len(points) > MAX_SHOWN_POINTS:  # a fixed random subset (a stride would draw stripes)
            self._shown = np.random.default_rng(0).choice(len(points), MAX_SHOWN_POINTS, replace=False)
            points, colors = points[self._shown], None if colors is None else colors[self._shown]
        cloud = pv.PolyData(np.asarray(points, np.float32))
        if colors is not None:
            cloud.point_data["rgb"] = np.asarray(colors, np.uint8)
        self.points.copy_from(cloud)
        if self.points_actor is None:
            self.points_actor = self.plotter.add_mesh(self.points, render_points_as_spheres=False, render=False)
        mapper = self.points_actor.mapper
        mapper.SetScalarVisibility(colors is not None)
        if colors is not None:  # the RGB bytes as they are, no colour map
            mapper.SetColorModeToDirectScalars()
            mapper.SetScalarModeToUsePointFieldData()
            mapper.SelectColorArray("rgb")
        self.points_actor.prop.color = POINTS_COLOR
        self.points_actor.prop.point_size = 3
        self.points_actor.SetVisibility(self.show_points)
        if not self._framed:
            self.reset_camera()
            self._framed = True
        self.update_view()

    def set_labels(self, where: np.ndarray, texts: list[str]) -> None:
        """Notes written in the view at 3D points (a rejected object's score); none clears them."""
        self.labels = list(texts)
        self.plotter.remove_actor("labels", render=False)
        if len(texts):
            self.plotter.add_point_labels(np.asarray(where, np.float32), self.labels, name="labels", font_size=12,
                                          text_color="#303030", shape_color="white", shape_opacity=0.7,
                                          show_points=False, always_visible=True, render=False)
        self.update_view()

    def _on_press(self, *_) -> None:
        self._press = self.plotter.iren.interactor.GetEventPosition()

    def _on_release(self, *_) -> None:
        iren = self.plotter.iren.interactor
        x, y = iren.GetEventPosition()
        if self._press is not None and abs(x - self._press[0]) + abs(y - self._press[1]) < CLICK_PIXELS:
            index = self.pick(x, y)
            if index is not None:
                self.pointPicked.emit(index, bool(iren.GetControlKey()))
        self._press = None

    def pick(self, x: float, y: float) -> int | None:
        """Index (in the points given to ``set_points``) of the nearest drawn point within PICK_PIXELS of
        the display position (x, y; VTK's, from the bottom left), or None."""
        if not self._has_scan or not self.points_actor.GetVisibility():
            return None
        renderer = self.plotter.renderer
        ends = []
        for depth in (0.0, 1.0):
            renderer.SetDisplayPoint(x, y, depth)
            renderer.DisplayToWorld()
            w = np.array(renderer.GetWorldPoint())
            ends.append(w[:3] / w[3])
        origin, ray = ends[0], ends[1] - ends[0]
        ray /= np.linalg.norm(ray)
        rel = np.asarray(self.points.points, float) - origin
        along = rel @ ray
        off = np.linalg.norm(rel - along[:, None] * ray, axis=1)
        pixel = np.radians(renderer.camera.view_angle) / max(renderer.GetSize()[1], 1)  # radians per pixel
        near = np.flatnonzero((along > 0) & (off < PICK_PIXELS * pixel * np.maximum(along, 1e-9)))
        return None if len(near) == 0 else int(self._shown[near[np.argmin(along[near])]])

    def display_position(self, point: np.ndarray) -> tuple[float, float]:
        """Where a world point is drawn (VTK display coordinates, from the bottom left)."""
        renderer = self.plotter.renderer
        renderer.SetWorldPoint(*point, 1.0)
        renderer.WorldToDisplay()
        return renderer.GetDisplayPoint()[:2]

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

    def set_scan_frame(self, on: bool, half_tan: tuple[float, float] = (0.414, 0.414)) -> None:
        """Show the scene as the depth camera saw it (camera frame: y down, z forward; ``half_tan`` the
        tangents of its half fields of view across and up: width / 2 fx, height / 2 fy), or the model's frame."""
        self.scan_half_tan = half_tan
        if on != self.scan_frame:
            self.scan_frame = on
            self.reset_camera()

    def scan_view_angle(self) -> float:
        """The view's vertical angle (degrees) that shows the whole scan in a pane of this shape: the scan's
        own vertical field of view, or more when the pane is narrower than the scan (a landscape scan in a
        portrait pane would lose its sides)."""
        across, up = self.scan_half_tan
        aspect = max(self.plotter.interactor.width(), 1) / max(self.plotter.interactor.height(), 1)
        return float(np.degrees(2 * np.arctan(max(up, across / aspect))))

    def reset_camera(self) -> None:
        renderer = self.plotter.renderer
        if self.scan_frame:  # from the depth camera itself: at the origin, looking along +z, y down
            renderer.camera_position = [(0, 0, 0), (0, 0, 1), (0, -1, 0)]
            renderer.camera.view_angle = self.scan_view_angle()
            renderer.ResetCameraClippingRange()
        else:
            renderer.camera.view_angle = 30.0  # VTK's default
            renderer.camera_position = CAMERA
            renderer.reset_camera(render=False)
        self.update_view()

    def screenshot(self, path: str) -> None:
        """Save the view as it is now. A change asks only for a later paint (``update_view``), so render
        first: reading the window's buffer before that paint saves the previous frame (a test caught a
        blank view right after the first mesh). Written atomically."""
        self.plotter.render_window.Render()
        atomic_write(path, lambda tmp: self.plotter.screenshot(str(tmp)))

    def face_count(self) -> int:
        return 0 if self.actor is None or not self.actor.GetVisibility() else self.poly.n_cells

    def close(self) -> bool:
        self.plotter.close()
        return super().close()
