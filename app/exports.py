"""Exports that take a while: the interpolation sequence (meshed in a worker) and a turntable movie
(frames rendered one per event-loop turn, the file written in a worker). Both show progress and can
be cancelled; they use the same core functions as the CLI."""
from __future__ import annotations

from pathlib import Path

import torch
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from core.mesh.interpolate import export_sequence
from core.jobs import Cancelled
from core.mesh.meshing import SurfaceMesh
from core.mesh.render import OffscreenRenderer, save_animation, turntable_azimuths

from .workers import JobService

TURNTABLE_SIZE = (480, 480)


class Exporter(QObject):
    """One export at a time; ``done(message)`` or ``failed(message)`` when it ends."""

    done = Signal(str)
    failed = Signal(str)

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        # warm now: a new renderer's first picture (GL context, shaders) blocks the GUI thread ~0.5 s
        self.renderer = OffscreenRenderer(TURNTABLE_SIZE)
        self.job = JobService(self)
        self.job.progress.connect(lambda p: self._show(*p))
        self.job.finished.connect(self._finished)
        self.job.failed.connect(self._failed)
        self.job.cancelled.connect(self._end)
        self.dialog: QProgressDialog | None = None
        self._frames: list = []
        self._timer = QTimer(self, interval=0)
        self._timer.timeout.connect(self._render_frame)

    @property
    def busy(self) -> bool:
        return self.dialog is not None

    def sequence(self, decoder, a: torch.Tensor, b: torch.Tensor, out_dir: str, steps: int, res: int,
                 spherical: bool = False, fmt: str = "ply") -> bool:
        if self.busy:
            return False
        self._open(f"Meshing {steps} steps at {res}³…", steps)
        a, b = a.detach().clone(), b.detach().clone()

        def work(progress, cancelled):
            meshes = export_sequence(decoder, a, b, out_dir, steps, res, spherical, fmt,
                                     progress=lambda done, total: progress((done, total)), cancelled=cancelled)
            return f"wrote {sum(not m.is_empty for m in meshes)} meshes to {out_dir}"

        self.job.start(work)
        return True

    def turntable(self, mesh: SurfaceMesh, path: str, frames: int = 36) -> bool:
        if self.busy:
            return False
        if Path(path).suffix.lower() not in (".gif", ".mp4"):
            self.failed.emit(f"{path}: a turntable is a .gif or .mp4")
            return False
        self._open(f"Rendering {frames} frames…", frames + 1)
        self._mesh, self._path = mesh, path
        self._azimuths = list(turntable_azimuths(frames))
        self._frames = []
        self._timer.start()
        return True

    # --- internals --------------------------------------------------------------------------------
    def _open(self, text: str, total: int) -> None:
        self.dialog = QProgressDialog(text, "Cancel", 0, total, self.parent())
        self.dialog.setWindowTitle("Export")
        self.dialog.setWindowModality(Qt.WindowModal)
        self.dialog.setMinimumDuration(300)
        self.dialog.canceled.connect(self.cancel)
        self.dialog.setValue(0)

    def _show(self, done: int, total: int) -> None:
        if self.dialog is not None:
            self.dialog.setMaximum(total)
            self.dialog.setValue(done)

    def _render_frame(self) -> None:
        """One frame per event-loop turn: the window stays responsive while a movie renders."""
        if len(self._frames) == len(self._azimuths):
            self._timer.stop()
            frames, path = self._frames, self._path
            self._frames = []

            def write(progress, cancelled):
                if cancelled():
                    raise Cancelled()
                save_animation(frames, path)
                return f"wrote {len(frames)} frames to {path}"

            self.job.start(write)
            return
        az = self._azimuths[len(self._frames)]
        self._frames.append(self.renderer.image(self._mesh, az))
        self._show(len(self._frames), len(self._azimuths) + 1)

    def cancel(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
            self._frames = []
            self._end()
        self.job.cancel()

    def close(self) -> None:
        self.cancel()
        self.job.wait()
        self.renderer.close()

    def _finished(self, message: str) -> None:
        self._end()
        self.done.emit(message)

    def _failed(self, message: str) -> None:
        self._end()
        self.failed.emit(message)

    def _end(self) -> None:
        if self.dialog is not None:
            dialog, self.dialog = self.dialog, None
            dialog.canceled.disconnect(self.cancel)
            dialog.close()
            dialog.deleteLater()
