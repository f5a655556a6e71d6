"""Explore panel: shape browser with filter, A/B interpolation slider, resolution, play, new shape."""
from __future__ import annotations

import torch
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QPushButton, QSlider, QVBoxLayout, QWidget)

from core.data.shapes import kinds
from core.mesh.interpolate import CROSS_KIND, interpolate
from core.model.decoder import LatentTable

from .latent_map import LatentMap

RESOLUTIONS = [32, 64, 128, 256, 384, 512]
SLIDER_STEPS = 1000
ALL_KINDS = "all kinds"
KIND_ROLE = Qt.UserRole + 1  # a listed shape's kind (``shapes.kinds``), beside its name in Qt.UserRole


class ExplorePanel(QWidget):
    codeChanged = Signal(object, bool)  # code tensor, is_preview (slider moving)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.latents: LatentTable | None = None
        self.extra: dict[str, torch.Tensor] = {}  # fitted or sampled codes, shown in the list too
        self.icons: dict = {}  # name -> QIcon
        self.kinds: dict[str, list[str]] = {}  # kind -> shape names (``shapes.kinds``)
        self.filter = QLineEdit(placeholderText="Filter shapes…")
        self.kind = QComboBox()  # a model of synthetic seating: chairs, armchairs, sofas, ... (``shapes.kinds``)
        self.kind.setVisible(False)
        self.cross = QPushButton(f"{CROSS_KIND[0]} ↔ {CROSS_KIND[1]} (a one-seat sofa): the midpoint")
        self.cross.setToolTip("The seed's example: a wooden chair and a single-person sofa; the slider at the midpoint")
        self.cross.setVisible(False)
        self.list = QListWidget()
        self.list.setIconSize(QSize(64, 64))
        self.a, self.b = QComboBox(), QComboBox()
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.t_label = QLabel("t = 0.00")
        self.extrapolate = QCheckBox("extrapolate (−0.5…1.5)")
        self.spherical = QCheckBox("spherical")
        self.resolution = QComboBox()
        self.resolution.addItems([str(r) for r in RESOLUTIONS])
        self.resolution.setCurrentText("128")
        self.play = QPushButton("▶ Play")
        self.play.setCheckable(True)
        self.new_shape = QPushButton("New shape")
        self.map = LatentMap()
        self.timer = QTimer(self, interval=120)
        self._direction = 1

        form = QFormLayout()
        form.addRow("A", self.a)
        form.addRow("B", self.b)
        form.addRow("Resolution", self.resolution)
        row = QHBoxLayout()
        row.addWidget(self.play)
        row.addWidget(self.new_shape)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.kind)
        layout.addLayout(top)
        layout.addWidget(self.cross)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.map, 1)
        layout.addLayout(form)
        layout.addWidget(self.t_label)
        layout.addWidget(self.slider)
        layout.addWidget(self.extrapolate)
        layout.addWidget(self.spherical)
        layout.addLayout(row)

        self.filter.textChanged.connect(lambda _: self._apply_filter())
        self.kind.currentTextChanged.connect(lambda _: self._apply_filter())
        self.cross.clicked.connect(lambda: self.show_pair(*CROSS_KIND))
        self.list.currentItemChanged.connect(lambda item, _: self._pick_from_list(item.data(Qt.UserRole) if item else ""))
        self.slider.valueChanged.connect(lambda _: self._emit(self.slider.isSliderDown()))
        self.slider.sliderReleased.connect(lambda: self._emit(False))
        for w in (self.a, self.b):
            w.currentIndexChanged.connect(lambda _: self._emit(False))
        self.spherical.toggled.connect(lambda _: self._emit(False))
        self.extrapolate.toggled.connect(lambda _: self._emit(False))
        self.resolution.currentTextChanged.connect(lambda _: self._emit(False))
        self.play.toggled.connect(lambda on: self.timer.start() if on else self.timer.stop())
        self.timer.timeout.connect(self._advance)
        self.new_shape.clicked.connect(self.sample_new_shape)
        self.map.picked.connect(self._pick_from_map)

    # --- model ------------------------------------------------------------------------------------
    def set_latents(self, latents: LatentTable) -> None:
        self.latents = latents
        self.extra = {}
        self.icons = {}
        self.kinds = kinds(latents.names)
        self.kind.blockSignals(True)
        self.kind.clear()
        self.kind.addItems([ALL_KINDS] + [f"{k} ({len(v)})" for k, v in self.kinds.items()])
        self.kind.blockSignals(False)
        self.kind.setVisible(len(self.kinds) > 1)
        self.cross.setVisible(all(k in self.kinds for k in CROSS_KIND))
        self._refill()
        self.a.setCurrentIndex(0)
        self.b.setCurrentIndex(min(1, len(latents) - 1))
        self.list.setCurrentRow(0)

    def set_icon(self, name: str, icon) -> None:
        self.icons[name] = icon
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.UserRole) == name:
                self.list.item(i).setIcon(icon)

    def show_pair(self, kind_a: str, kind_b: str) -> None:
        """The first shape of ``kind_a`` as A, of ``kind_b`` as B, and the midpoint between them."""
        self.a.setCurrentText(self.kinds[kind_a][0])
        self.b.setCurrentText(self.kinds[kind_b][0])
        self.set_t(0.5)

    def add_code(self, name: str, z: torch.Tensor) -> None:
        """Add a fitted or sampled code to the browser and pickers, and show it."""
        self.extra[name] = z.detach().clone()
        self._refill()
        self.a.setCurrentText(name)
        self.set_t(0.0)

    def _names(self) -> list[str]:
        return (self.latents.names if self.latents else []) + list(self.extra)

    def _refill(self) -> None:
        for w in (self.list, self.a, self.b):
            w.blockSignals(True)
        a, b = self.a.currentText(), self.b.currentText()
        self.list.clear()
        kind_of = {name: kind for kind, names in self.kinds.items() for name in names}
        for name in self._names():
            kind = kind_of.get(name)
            shown = len(self.kinds) > 1 and kind is not None  # one kind (a chairs model) goes without saying
            item = QListWidgetItem(f"{name} · {kind}" if shown else name)
            item.setData(Qt.UserRole, name)
            item.setData(KIND_ROLE, kind)
            if name in self.icons:
                item.setIcon(self.icons[name])
            self.list.addItem(item)
        for combo, keep in ((self.a, a), (self.b, b)):
            combo.clear()
            combo.addItems(self._names())
            if keep:
                combo.setCurrentText(keep)
        for w in (self.list, self.a, self.b):
            w.blockSignals(False)
        self._apply_filter()
        if self.latents is not None:
            self.map.set_codes(self.latents.names, self.latents.codes, self.extra)

    def code_of(self, name: str) -> torch.Tensor:
        if name in self.extra:
            return self.extra[name]
        return self.latents.codes[self.latents.index(name)]

    # --- interaction ------------------------------------------------------------------------------
    def t(self) -> float:
        u = self.slider.value() / SLIDER_STEPS
        return -0.5 + 2 * u if self.extrapolate.isChecked() else u

    def set_t(self, t: float) -> None:
        u = (t + 0.5) / 2 if self.extrapolate.isChecked() else t
        self.slider.setValue(round(min(max(u, 0), 1) * SLIDER_STEPS))
        self._emit(False)

    def current_code(self) -> torch.Tensor | None:
        if not self.latents or not self.a.currentText() or not self.b.currentText():
            return None
        return interpolate(self.code_of(self.a.currentText()), self.code_of(self.b.currentText()), self.t(),
                           self.spherical.isChecked())

    def res(self) -> int:
        return int(self.resolution.currentText())

    def _emit(self, preview: bool) -> None:
        self.t_label.setText(f"t = {self.t():.2f}")
        z = self.current_code()
        if z is not None:
            self.map.mark(self.code_of(self.a.currentText()), self.code_of(self.b.currentText()), z)
            self.codeChanged.emit(z, preview)

    def _apply_filter(self) -> None:
        """Shapes whose name (and kind) holds the filter's text, of the kind chosen."""
        text = self.filter.text().lower()
        kind = self.kind.currentText().rsplit(" (", 1)[0]
        for i in range(self.list.count()):
            item = self.list.item(i)
            of_kind = kind in ("", ALL_KINDS) or item.data(KIND_ROLE) == kind
            item.setHidden(text not in item.text().lower() or not of_kind)

    def _pick_from_list(self, name: str) -> None:
        if name:
            self.a.blockSignals(True)
            self.a.setCurrentText(name)
            self.a.blockSignals(False)
            self.set_t(0.0)

    def _pick_from_map(self, name: str, as_b: bool) -> None:
        combo = self.b if as_b else self.a
        combo.setCurrentText(name)
        if not as_b:
            self.set_t(0.0)

    def _advance(self) -> None:
        value = self.slider.value() + self._direction * SLIDER_STEPS // 40
        if not 0 <= value <= SLIDER_STEPS:
            self._direction *= -1
            value = min(max(value, 0), SLIDER_STEPS)
        self.slider.setValue(value)
        self._emit(True)

    def sample_new_shape(self) -> None:
        """Draw a code from a Gaussian fitted to the latent table (the learned prior)."""
        codes = self.latents.codes
        z = codes.mean(0) + codes.std(0) * torch.randn(codes.shape[1])
        self.add_code(f"sample {len([n for n in self.extra if n.startswith('sample')]) + 1}", z)
