"""Shape thumbnails for the browser: meshed in a worker, rendered off-screen on the GUI thread one at
a time, cached on disk per model (keyed by a hash of its weights and codes)."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal
from PySide6.QtGui import QIcon, QPixmap

from core.bundle import Bundle
from core.meshing import SurfaceMesh
from core.render import OffscreenRenderer

from .workers import ThumbnailService

SIZE = (96, 96)


def model_key(bundle: Bundle) -> str:
    h = hashlib.sha1()
    for t in list(bundle.decoder.state_dict().values()) + [bundle.latents.codes]:
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def cache_dir(bundle: Bundle) -> Path:
    root = Path(QStandardPaths.writableLocation(QStandardPaths.GenericCacheLocation) or Path.home() / ".cache")
    return root / "deepsdf-explorer" / "thumbnails" / model_key(bundle)


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".png"


class Thumbnails(QObject):
    """Emits ``ready(name, QIcon)`` for every shape: from the disk cache at once, else when rendered."""

    ready = Signal(str, QIcon)

    def __init__(self, renderer: OffscreenRenderer, parent=None):
        super().__init__(parent)
        self.renderer = renderer  # shared and already warm: a new one's first picture blocks ~0.5 s
        self.service = ThumbnailService(self)
        self.service.meshReady.connect(self._queue)
        self._todo: list[tuple[str, SurfaceMesh]] = []
        self._timer = QTimer(self, interval=30)
        self._timer.timeout.connect(self._render_one)
        self._dir: Path | None = None
        self._closed = False

    def load(self, bundle: Bundle) -> None:
        self.service.stop()
        self._todo.clear()
        self._dir = cache_dir(bundle)
        missing = []
        for i, name in enumerate(bundle.latents.names):
            path = self._dir / _file_name(name)
            if path.is_file():
                self.ready.emit(name, QIcon(QPixmap(str(path))))
            else:
                missing.append((name, bundle.latents.codes[i]))
        if missing:
            self.service.start(bundle.decoder, missing)

    def _queue(self, name: str, mesh: SurfaceMesh) -> None:
        if self._closed:
            return
        self._todo.append((name, mesh))
        if not self._timer.isActive():
            self._timer.start()

    def _render_one(self) -> None:
        if not self._todo:
            self._timer.stop()
            return
        name, mesh = self._todo.pop(0)
        if self._closed or mesh is None or mesh.is_empty:
            return
        image = self.renderer.image(mesh, size=SIZE, fit=True)
        path = self._dir / _file_name(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            import imageio.v3 as iio

            iio.imwrite(path, np.ascontiguousarray(image))
            self.ready.emit(name, QIcon(QPixmap(str(path))))
        except OSError:
            pass  # an unwritable cache only costs re-rendering next time

    def close(self) -> None:
        self._closed = True
        self.service.stop(wait=True)
        self._timer.stop()
