"""Shape thumbnails for the browser: made in a worker thread (``ThumbnailService``) and cached on disk
per model, keyed by a hash of its weights and codes."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QStandardPaths, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap

from core.model.bundle import Bundle

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


def icon(image: np.ndarray) -> QIcon:
    """An RGB uint8 array as an icon (copied: the QImage must not outlive the array's memory)."""
    image = np.ascontiguousarray(image)
    h, w, _ = image.shape
    return QIcon(QPixmap.fromImage(QImage(image.data, w, h, 3 * w, QImage.Format_RGB888).copy()))


class Thumbnails(QObject):
    """Emits ``ready(name, QIcon)`` for every shape: from the disk cache at once, else when made."""

    ready = Signal(str, QIcon)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.service = ThumbnailService(self, size=SIZE)
        self.service.imageReady.connect(lambda name, image: self.ready.emit(name, icon(image)))

    def load(self, bundle: Bundle) -> None:
        self.service.stop()
        folder = cache_dir(bundle)
        missing = []
        for i, name in enumerate(bundle.latents.names):
            path = folder / _file_name(name)
            if path.is_file():
                self.ready.emit(name, QIcon(QPixmap(str(path))))
            else:
                missing.append((name, bundle.latents.codes[i], path))
        if missing:
            self.service.start(bundle.decoder, missing)

    def close(self) -> None:
        self.service.stop(wait=True)
