"""Latent map: the codes projected on their first two principal axes; click a dot to pick A (or B)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


def pca_2d(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, 2 x L principal axes) of the codes."""
    mean = codes.mean(0)
    _, _, v = torch.pca_lowrank(codes - mean, q=min(2, *codes.shape), center=False)
    axes = v.t()
    if axes.shape[0] < 2:
        axes = torch.cat([axes, torch.zeros(2 - axes.shape[0], codes.shape[1])])
    return mean, axes


class LatentMap(QWidget):
    picked = Signal(str, bool)  # name, as_b (shift-click or right-click picks B)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setAspectLocked(True)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMinimumHeight(180)
        self.dots = pg.ScatterPlotItem(size=7, pen=None, brush=pg.mkBrush(120, 120, 120, 160), hoverable=True)
        self.extra = pg.ScatterPlotItem(size=9, symbol="s", pen=None, brush=pg.mkBrush(40, 160, 60, 200))
        self.marks = pg.ScatterPlotItem(size=13, pen=pg.mkPen("k", width=1.5))
        for item in (self.dots, self.extra, self.marks):
            self.plot.addItem(item)
        self.dots.sigClicked.connect(self._clicked)
        self.extra.sigClicked.connect(self._clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        layout.addWidget(QLabel("Click: A · Shift-click: B · green squares: fitted and sampled codes"))
        self.mean = self.axes = None

    def project(self, z: torch.Tensor) -> np.ndarray:
        return ((z - self.mean) @ self.axes.t()).numpy()

    def set_codes(self, names: list[str], codes: torch.Tensor, extra: dict[str, torch.Tensor]) -> None:
        self.mean, self.axes = pca_2d(codes)
        xy = self.project(codes)
        self.dots.setData(pos=xy, data=names)
        if extra:
            self.extra.setData(pos=self.project(torch.stack(list(extra.values()))), data=list(extra))
        else:
            self.extra.setData(pos=np.zeros((0, 2)))

    def mark(self, a: torch.Tensor | None, b: torch.Tensor | None, current: torch.Tensor | None) -> None:
        if self.mean is None:
            return
        spots = []
        for z, color, symbol in ((a, (220, 60, 40), "o"), (b, (40, 90, 220), "o"), (current, (250, 200, 0), "star")):
            if z is not None:
                x, y = self.project(z[None])[0]
                spots.append({"pos": (x, y), "brush": pg.mkBrush(*color), "symbol": symbol})
        self.marks.setData(spots)

    def _clicked(self, item, points, event=None) -> None:
        if len(points):
            shift = event is not None and bool(event.modifiers() & Qt.ShiftModifier)
            self.picked.emit(points[0].data(), shift)
