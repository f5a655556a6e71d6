"""Optimize panel: a depth scan, injected noise, and a latent fit (LM or Adam) with live progress."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout,
                               QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QSlider,
                               QSpinBox, QVBoxLayout, QWidget)

from core.scans.completion import HIDDEN, noisy, pick_segments
from core.scans.fusion import SequenceScene
from core.scans.scan import SENSORS, Camera, Scan, load_depth, load_scan, look_at_pose, sidecar_path
from core.scans.segment import Segmentation
from core.scans.sensor_json import sensor_of

SEGMENT_COLORS = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
                           [140, 86, 75], [227, 119, 194], [188, 189, 34], [23, 190, 207]], np.uint8)  # tab10
BACKGROUND_COLOR = np.array([175, 175, 175], np.uint8)  # floor, walls, clutter
REJECTED_COLOR = np.array([95, 95, 95], np.uint8)  # an object whose fit says it is not what the model knows

SCAN_SUFFIXES = (".png", ".tif", ".tiff", ".exr", ".npy", ".npz")
NOISE_MAX = 0.05
NOISE_STEPS = 500


class ProgressBar(QProgressBar):
    """A progress bar that repaints with the next event-loop turn. QProgressBar.setValue repaints at
    once, and in a window holding the GL view that flushes the whole window, the view's render
    included (50-100 ms on software GL) -- once per fit iteration."""

    def setValue(self, value: int) -> None:
        self.setUpdatesEnabled(False)
        super().setValue(value)
        self.setUpdatesEnabled(True)  # schedules an ordinary (merged) update


class CameraDialog(QDialog):
    """Asks for intrinsics, depth units and (for a render) a look-at pose when a scan has no sidecar.

    Without a pose the scan is a sensor's: its objects, their poses and shapes are found (the default,
    as a raw depth image from a sensor has no pose in the model's frame)."""

    SENSOR, LOOK_AT = "none: a sensor's scan (find the objects, their poses and shapes)", "look-at, in the model's frame"
    GUESS = "other (a 50° view guessed)"

    def __init__(self, path: Path, width: int, height: int, parent=None, sensor_only: bool = False):
        """``sensor_only``: the frames of a sequence, whose poses come with them: no pose is asked."""
        super().__init__(parent)
        self.setWindowTitle(f"Camera for {path.name}")
        guess = Camera.from_fov(width, height, 50.0)
        self.width_px, self.height_px = width, height
        self.fx, self.fy, self.cx, self.cy = (self._spin(v, 1e5) for v in (guess.fx, guess.fy, guess.cx, guess.cy))
        self.depth_scale = self._spin(0.0, 1e6)  # 0: as ``load_depth`` reads it (16-bit: mm; float: as stored)
        self.depth_scale.setSpecialValueText("auto: 1000 (mm) for 16-bit, 1 for float")
        self.sensor = QComboBox()  # a preset fills in the numbers below, which stay editable
        self.sensor.addItems([self.GUESS, *SENSORS])
        self.sensor.currentTextChanged.connect(self._sensor_changed)
        self.pose_kind = QComboBox()
        self.pose_kind.addItems([self.SENSOR, self.LOOK_AT])
        self.az, self.el = self._spin(30.0, 360, -360), self._spin(20.0, 90, -90)
        self.dist = self._spin(2.5, 100, 0.01)
        form = QFormLayout(self)
        form.addRow(QLabel(f"{path.name} has no sidecar JSON ({sidecar_path(path).name}).\n"
                           "Give the depth camera's intrinsics (pixels) and the depth's units."))
        for label, w in (("sensor", self.sensor), ("fx", self.fx), ("fy", self.fy), ("cx", self.cx), ("cy", self.cy),
                         ("depth scale (stored value per metre:\n1000 = mm, TUM RGB-D 5000)", self.depth_scale),
                         ("pose", self.pose_kind), ("azimuth °", self.az), ("elevation °", self.el),
                         ("distance", self.dist)):
            form.addRow(label, w)
        self.pose_kind.currentTextChanged.connect(self._pose_kind_changed)
        self._pose_kind_changed(self.pose_kind.currentText())
        for w in (self.pose_kind, self.az, self.el, self.dist):
            w.setVisible(not sensor_only)
            form.labelForField(w).setVisible(not sensor_only)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    @staticmethod
    def _spin(value, maximum, minimum=0.0) -> QDoubleSpinBox:
        s = QDoubleSpinBox(decimals=3, minimum=minimum, maximum=maximum)
        s.setValue(value)
        return s

    def _sensor_changed(self, name: str) -> None:
        """Fill in a preset's intrinsics, scaled to this image's size, and its depth units."""
        if name in SENSORS:
            camera = SENSORS[name].camera(self.width_px, self.height_px)
            scale = SENSORS[name].depth_scale
        else:
            camera, scale = Camera.from_fov(self.width_px, self.height_px, 50.0), 0.0
        for spin, value in zip((self.fx, self.fy, self.cx, self.cy, self.depth_scale),
                               (camera.fx, camera.fy, camera.cx, camera.cy, scale)):
            spin.setValue(value)

    def _pose_kind_changed(self, kind: str) -> None:
        for w in (self.az, self.el, self.dist):
            w.setEnabled(kind == self.LOOK_AT)

    def camera(self) -> Camera:
        return Camera(self.fx.value(), self.fy.value(), self.cx.value(), self.cy.value(), self.width_px, self.height_px)

    def pose(self) -> np.ndarray | None:
        """The camera-to-model pose of a render; None for a sensor's scan."""
        if self.pose_kind.currentText() == self.SENSOR:
            return None
        return look_at_pose(self.az.value(), self.el.value(), self.dist.value())


def open_scan_interactive(path: Path, parent=None) -> Scan | None:
    """Load a scan; without a sidecar or its folder's ``sensor.json``, ask for the camera. None if the user
    cancels."""
    if sidecar_path(path).is_file() or sensor_of(path) is not None:
        return load_scan(path)
    depth = load_depth(path)
    dialog = CameraDialog(path, depth.shape[1], depth.shape[0], parent)
    if dialog.exec() != QDialog.Accepted:
        return None
    return load_scan(path, camera=dialog.camera(), camera_to_model=dialog.pose(),
                     depth_scale=dialog.depth_scale.value() or None)


class OptimizePanel(QWidget):
    pointsChanged = Signal(object)  # (n, 3) scan points in the model frame, or None
    startRequested = Signal()
    cancelRequested = Signal()
    objectsChanged = Signal()  # the chosen objects of a sensor's scene, or the frames shown of a sequence

    def __init__(self, parent=None):
        super().__init__(parent)
        self.scan: Scan | None = None
        self.truth: np.ndarray | None = None
        self.scan_label = QLabel("No scan: drop a depth image (with its .json sidecar) or open one.")
        self.scan_label.setWordWrap(True)
        self.open_button = QPushButton("Open scan…")
        self.noise_kind = QComboBox()
        self.noise_kind.addItems(["depth", "inverse"])
        self.noise = QSlider(Qt.Horizontal)
        self.noise.setRange(0, NOISE_STEPS)
        self.noise_label = QLabel("σ = 0.000")
        self.seed = QSpinBox(maximum=10_000)
        self.method = QComboBox()
        self.method.addItems(["lm", "adam"])
        self.iterations = QSpinBox(minimum=1, maximum=5000)
        self.iterations.setValue(60)
        self.method.currentTextChanged.connect(lambda m: self.iterations.setValue(60 if m == "lm" else 800))
        self.start = QPushButton("Fit")
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.progress = ProgressBar()
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLabel("left", "loss")
        self.plot.setLabel("bottom", "iteration")
        self.plot.setLogMode(y=True)
        self.plot.setMinimumHeight(140)
        self.curve = self.plot.plot(pen=pg.mkPen("#2060c0", width=2))
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        self.save_button = QPushButton("Save model with this code…")
        self.save_button.setEnabled(False)
        # a sensor's scan (no pose): its objects; click one, Ctrl-click several, then Fit
        self.scene: Segmentation | None = None
        self.objects = QListWidget()
        self.objects.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.objects.setVisible(False)
        self.objects.itemSelectionChanged.connect(self.objectsChanged)
        # a sequence of frames with poses: its objects (listed once) in ``objects``, its frames here, each toggleable
        self.sequence: SequenceScene | None = None
        self.rejected: dict[int, float] = {}  # list key -> score of the objects a fit called not what the model knows
        self.frames = QListWidget()
        self.frames.setVisible(False)
        self.frames.itemChanged.connect(lambda _: self.objectsChanged.emit())
        self._point_ids = np.zeros(0, int)  # of the points shown last: the segment label, or object index

        form = QFormLayout()
        form.addRow("Noise", self.noise_kind)
        form.addRow(self.noise_label, self.noise)
        form.addRow("Seed", self.seed)
        form.addRow("Solver", self.method)
        form.addRow("Iterations", self.iterations)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start)
        buttons.addWidget(self.cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.open_button)
        layout.addWidget(self.scan_label)
        layout.addWidget(self.objects, 1)
        layout.addWidget(self.frames)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.result_label)
        layout.addWidget(self.save_button)

        self.noise.valueChanged.connect(self._noise_changed)
        self.noise_kind.currentTextChanged.connect(lambda _: self._noise_changed())
        self.seed.valueChanged.connect(lambda _: self._noise_changed())
        self.start.clicked.connect(self.startRequested)
        self.cancel.clicked.connect(self.cancelRequested)
        self._losses: list[float] = []

    def set_scan(self, scan: Scan, path: Path) -> None:
        self.scan = scan
        self.set_sequence(None)
        self.set_scene(None)
        gt = path.with_name(path.stem + "_gt.npy")
        self.truth = np.load(gt) if gt.is_file() else None
        valid = int(np.isfinite(scan.depth).sum())
        self.scan_label.setText(f"{path.name}: {scan.camera.width}×{scan.camera.height}, {valid:,} valid pixels"
                                + (f", ground truth {scan.ground_truth}" if isinstance(scan.ground_truth, str) else ""))
        self._noise_changed()

    # --- a sensor's scene -------------------------------------------------------------------------
    def set_scene(self, seg: Segmentation | None) -> None:
        """List the objects found in a scan without a pose (largest first, the most prominent chosen, as
        the CLI's default); None: a posed scan."""
        self.scene = seg
        self.rejected = {}
        self.objects.blockSignals(True)
        self.objects.clear()
        for k, s in enumerate(seg.segments if seg is not None else []):
            color = SEGMENT_COLORS[k % len(SEGMENT_COLORS)]
            notes = [n for n, on in (("cut by the border", s.cut_off), ("partly hidden", s.hidden >= HIDDEN),
                                     ("on a table or shelf", s.on_support is not None)) if on]
            item = QListWidgetItem(f"object {s.label}: {s.pixels:,} px" + (f" ({', '.join(notes)})" if notes else ""))
            item.setForeground(pg.mkColor(*color))
            item.setData(Qt.UserRole, s.label)
            self.objects.addItem(item)
        if self.objects.count():
            # nothing whole and standing: the largest
            first = (pick_segments(seg, "prominent", warn=lambda _: None) or seg.segments)[0]
            self.objects.item(seg.segments.index(first)).setSelected(True)
        self.objects.blockSignals(False)
        self.objects.setVisible(seg is not None)
        self.plot.setVisible(seg is None)  # the pose-free fit has no single loss curve
        for w in (self.noise, self.noise_kind, self.seed, self.method, self.iterations):
            w.setEnabled(seg is None)  # the pose-free fit has its own solver and schedule
        if seg is not None:
            self.scan_label.setText(self.scan_label.text() + f"\nno camera pose: {len(seg.segments)} object(s) found"
                                    f"{'' if seg.floor is not None else ' (no floor found)'}; click one here or in "
                                    "the view, Ctrl-click several, then Fit"
                                    + "".join(f"\n{doubt}" for doubt in (seg.floor_note(), seg.units_doubt()) if doubt))
        self.objectsChanged.emit()

    def set_sequence(self, scene: SequenceScene | None, source: str = "") -> None:
        """List a sequence's objects, once each, the most prominent chosen, and its frames (all shown); None:
        no sequence."""
        self.sequence = scene
        self.rejected = {}
        self.frames.blockSignals(True)
        self.frames.clear()
        self.objects.blockSignals(True)
        self.objects.clear()
        if scene is not None:
            self.scan = None
            self.scene = None
            names = scene.sequence.names()
            for k, obj in enumerate(scene.objects):
                item = QListWidgetItem(f"object {k + 1}: seen in {len({v.frame for v in obj.views})} of {len(names)} frames, "
                                       f"{sum(v.segment.pixels for v in obj.views):,} px")
                item.setForeground(pg.mkColor(*SEGMENT_COLORS[k % len(SEGMENT_COLORS)]))
                item.setData(Qt.UserRole, k)
                self.objects.addItem(item)
            if self.objects.count():
                self.objects.item(0).setSelected(True)
            for name in names:
                item = QListWidgetItem(name)
                item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                item.setCheckState(Qt.Checked)
                self.frames.addItem(item)
            self.scan_label.setText(f"{source}: {len(names)} frames with camera poses, the world frame seen from the "
                                    f"first; {len(scene.objects)} object(s) found across them. Click one here or in "
                                    "the view, Ctrl-click several, then Fit: each is fitted over every frame that sees it")
        self.frames.blockSignals(False)
        self.objects.blockSignals(False)
        self.objects.setVisible(scene is not None or self.scene is not None)
        self.frames.setVisible(scene is not None)
        self.plot.setVisible(scene is None and self.scene is None)
        for w in (self.noise, self.noise_kind, self.seed, self.method, self.iterations):
            w.setEnabled(scene is None and self.scene is None)
        if scene is not None:
            self.objectsChanged.emit()

    def shown_frames(self) -> list[int]:
        return [i for i in range(self.frames.count()) if self.frames.item(i).checkState() == Qt.Checked]

    def sequence_points(self, step: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The shown frames' points (every ``step``-th pixel) in the first frame's camera, coloured by object
        (chosen bright, the others pale, background grey), and each point's object index (-1: background)."""
        scene = self.sequence
        first = np.linalg.inv(scene.sequence.camera_to_world[0])
        chosen = set(self.chosen_labels())
        points, colors, ids = [], [], []
        for f in self.shown_frames():
            seg = scene.segs[f]
            labels = seg.labels[::step, ::step]
            valid = labels >= 0
            owner = np.full(labels.shape, -1)
            for k, obj in enumerate(scene.objects):
                for v in obj.views:
                    if v.frame == f:
                        owner[labels == v.segment.label] = k
            T = first @ scene.sequence.camera_to_world[f]
            pts = seg.points[::step, ::step][valid]
            points.append(pts @ T[:3, :3].T + T[:3, 3])
            own = owner[valid]
            color = np.tile(BACKGROUND_COLOR, (len(own), 1))
            for k in np.unique(own[own >= 0]):
                color[own == k] = self.object_color(k, k, chosen)
            colors.append(color)
            ids.append(own)
        if not points:
            return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8), np.zeros(0, int)
        return np.concatenate(points).astype(np.float32), np.concatenate(colors), np.concatenate(ids)

    def object_color(self, k: int, key: int, chosen: set[int]) -> np.ndarray:
        """The colour of the ``k``-th listed object (list key ``key``): its own, pale unless chosen, dark grey
        once its fit has said it is not what the model knows (``mark_checked``)."""
        if key in self.rejected:
            return REJECTED_COLOR
        color = SEGMENT_COLORS[k % len(SEGMENT_COLORS)]
        return color if key in chosen else (color * 0.35 + 0.65 * 235).astype(np.uint8)

    def rejected_labels(self, points: np.ndarray, ids: np.ndarray, category: str) -> tuple[np.ndarray, list[str]]:
        """Where to write "not a <category> (score ...)" in the view: at the top of each rejected object's
        points (``scene_points``' points and ids)."""
        where, texts = [], []
        for key, score in self.rejected.items():
            own = points[ids == key]
            if len(own):
                where.append(own[np.argmin(own[:, 1])])  # camera frame, y down: the highest point
                texts.append(f"not a {category} ({score:.2f})")
        return np.reshape(where, (-1, 3)), texts

    def mark_checked(self, checks: dict, category: str) -> None:
        """After a fit: objects the model does not know (their ``FitCheck``, by list key: a segment's label or
        a sequence's object index) are greyed, with their score, here and in the view (``object_color``)."""
        for key, check in checks.items():
            if check.known:
                self.rejected.pop(key, None)
            else:
                self.rejected[key] = check.score
        for i in range(self.objects.count()):
            item = self.objects.item(i)
            check = checks.get(item.data(Qt.UserRole))
            if check is None:
                continue
            text = item.text().split("  —")[0]
            if check.known:
                item.setText(f"{text}  — a {category} (score {check.score:.2f})")
            else:
                item.setText(f"{text}  — not a {category} (score {check.score:.2f})")
                item.setForeground(pg.mkColor(150, 150, 150))
        self.objectsChanged.emit()

    def chosen_labels(self) -> list[int]:
        return [item.data(Qt.UserRole) for item in self.objects.selectedItems()]

    def choose(self, labels: list[int]) -> None:
        """Select the objects with these segment labels."""
        for i in range(self.objects.count()):
            item = self.objects.item(i)
            item.setSelected(item.data(Qt.UserRole) in labels)

    def click_point(self, index: int, add: bool) -> None:
        """A click on point ``index`` of ``scene_points``: choose its object (Ctrl: add it, or drop it
        if chosen); a click on the background changes nothing."""
        if self.sequence is not None:
            label = int(self._point_ids[index]) if index < len(self._point_ids) else -1
            if label < 0:
                return
        else:
            label = int(self.scene.labels[self.scene.labels >= 0][index]) if self.scene is not None else 0
            if label <= 0 or label not in {s.label for s in self.scene.segments}:
                return
        chosen = set(self.chosen_labels()) if add else set()
        self.choose(sorted(chosen ^ {label}))

    def scene_points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Camera-frame points of the scene, their RGB colours (chosen objects bright, the others pale,
        background grey) and their segment labels."""
        if self.sequence is not None:
            points, colors, self._point_ids = self.sequence_points()
            return points, colors, self._point_ids
        seg = self.scene
        valid = seg.labels >= 0
        labels = seg.labels[valid]
        colors = np.tile(BACKGROUND_COLOR, (len(labels), 1))
        chosen = set(self.chosen_labels())
        for k, s in enumerate(seg.segments):
            colors[labels == s.label] = self.object_color(k, s.label, chosen)
        return seg.points[valid], colors, labels

    def sigma(self) -> float:
        return NOISE_MAX * self.noise.value() / NOISE_STEPS

    def noisy_scan(self) -> Scan | None:
        if self.scan is None:
            return None
        return noisy(self.scan, self.sigma(), self.noise_kind.currentText(), self.seed.value())

    def _noise_changed(self, *_) -> None:
        self.noise_label.setText(f"σ = {self.sigma():.3f}")
        scan = self.noisy_scan()
        if scan is None or scan.camera_to_model is not None:  # a scene's points come with its segmentation
            self.pointsChanged.emit(None if scan is None else scan.points()[0])

    # --- fitting state ----------------------------------------------------------------------------
    def fitting(self, running: bool) -> None:
        self.start.setEnabled(not running)
        self.cancel.setEnabled(running)
        if running:
            self._losses = []
            self.curve.setData([], [])
            self.progress.setRange(0, 100 if self.scene is not None or self.sequence is not None else self.iterations.value())
            self.progress.setValue(0)
            self.result_label.setText("fitting…")

    def add_loss(self, iteration: int, loss: float) -> None:
        self._losses.append(loss)
        self.curve.setData(np.arange(len(self._losses)), np.asarray(self._losses))
        self.progress.setValue(iteration + 1)
