"""Background workers: heavy work off the GUI thread, results back through Qt signals.

``MeshService`` keeps one worker thread and one pending request: a new request replaces the pending
one and interrupts the one in flight (latest request wins), so dragging a slider never queues work.
Signals carry numpy arrays only; VTK objects are touched on the GUI thread alone.
"""
from __future__ import annotations

import os
import threading
import traceback
from pathlib import Path
from typing import Callable

import imageio.v3 as iio
import torch
from PySide6.QtCore import QObject, Signal

from core.fileio import atomic_write
from core.jobs import Cancelled, describe
from core.mesh.meshing import mesh_code, mesh_levels
from core.mesh.render import raster_image


def lower_thread_priority(niceness: int = 10) -> None:
    """Let the GUI thread win the CPU over this worker (and the torch threads it starts)."""
    if hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
        except OSError:
            pass


class MeshService(QObject):
    meshReady = Signal(int, object)  # request id, SurfaceMesh (each level, coarse first)
    failed = Signal(int, str)
    busy = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending = None
        self._latest = 0
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="mesh-service", daemon=True)
        self._thread.start()

    def request(self, decoder, z: torch.Tensor, res: int, progressive: bool = True) -> int:
        """Queue meshing of code ``z``; returns the request id carried by ``meshReady``."""
        with self._cond:
            self._latest += 1
            self._pending = (self._latest, decoder, z.detach().clone(), res, progressive)
            self._cond.notify()
            return self._latest

    def cancel(self) -> None:
        with self._cond:
            self._latest += 1
            self._pending = None

    def shutdown(self) -> None:
        with self._cond:
            self._stop = True
            self._latest += 1
            self._cond.notify()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        lower_thread_priority()
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                rid, decoder, z, res, progressive = self._pending
                self._pending = None
            stale = lambda: rid != self._latest
            self.busy.emit(True)
            try:
                for mesh in mesh_levels(decoder, z, res, cancelled=stale):
                    if stale():
                        break
                    if progressive or mesh.stats["res"] == res:
                        mesh.normals  # cached on the mesh: the GUI thread only hands them to VTK
                        self.meshReady.emit(rid, mesh)
            except Cancelled:
                pass
            except Exception as e:  # reported to the user, the service keeps running
                self.failed.emit(rid, f"{type(e).__name__}: {describe(e)}\n{traceback.format_exc(limit=3)}")
            finally:
                self.busy.emit(False)


class JobService(QObject):
    """Runs one cancellable job at a time in a worker thread (a fit, an export).

    The job is ``fn(progress, cancelled)``: it calls ``progress(payload)`` as it goes, polls
    ``cancelled()`` and raises ``Cancelled`` to stop; its return value arrives in ``finished``.
    ``running`` stays true until that outcome has reached this object's (the GUI) thread, not only
    until the worker ends, so "not running" means the result is in the owner's hands.
    """

    progress = Signal(object)
    finished = Signal(object)
    cancelled = Signal()
    failed = Signal(str)
    _outcome = Signal(str, object)  # the worker's outcome (signal name, args), delivered on this object's thread

    def __init__(self, parent=None):
        super().__init__(parent)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._undelivered = 0  # outcomes a worker has sent that this object's thread has not yet received
        self._lock = threading.Lock()
        self._outcome.connect(self._deliver)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() or self._undelivered > 0

    def _send(self, name: str, *args) -> None:  # on the worker thread
        with self._lock:
            self._undelivered += 1
        self._outcome.emit(name, args)

    def _deliver(self, name: str, args: tuple) -> None:
        """On this object's thread: idle first, so that the owner's slot may start the next job."""
        with self._lock:
            self._undelivered -= 1
        getattr(self, name).emit(*args)

    def start(self, fn: Callable[[Callable[[object], None], Callable[[], bool]], object]) -> None:
        """Start ``fn``. After ``cancel()`` and ``wait()`` a new job may start before the old outcome
        has arrived; the owner drops that outcome as stale."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("a job is already running")
        self._cancel.clear()

        def work():
            lower_thread_priority()
            try:
                result = fn(self.progress.emit, self._cancel.is_set)
            except Cancelled:
                self._send("cancelled")
            except Exception as e:  # reported to the user; the previous state stays intact
                self._send("failed", f"{type(e).__name__}: {describe(e)}")
            else:
                self._send("finished", result)

        self._thread = threading.Thread(target=work, name="job", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        """Was the latest job asked to stop? (A ``cancelled`` outcome arriving when it was not is an older
        job's: a newer one has started since.)"""
        return self._cancel.is_set()

    def wait(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


class ThumbnailService(QObject):
    """Makes every shape's thumbnail in a worker thread, one after another (cancellable): a low
    resolution mesh, rasterised in torch (no GL, so no GUI-thread time), saved to ``folder``."""

    imageReady = Signal(str, object)  # name, RGB uint8 array

    def __init__(self, parent=None, res: int = 32, size: tuple[int, int] = (96, 96)):
        super().__init__(parent)
        self.res, self.size = res, size
        self._generation = 0
        self._thread: threading.Thread | None = None

    def start(self, decoder, items: list[tuple[str, torch.Tensor, Path]]) -> None:
        """Thumbnails for ``(name, code, png_path)`` items; a later ``start`` or ``stop`` ends this one."""
        self._generation += 1
        generation = self._generation

        def work():
            lower_thread_priority(15)
            stale = lambda: generation != self._generation
            for name, z, path in items:
                if stale():
                    return
                try:
                    mesh = mesh_code(decoder, z, self.res, cancelled=stale)
                except Cancelled:
                    return
                image = raster_image(mesh, self.size)
                try:
                    atomic_write(path, lambda tmp: iio.imwrite(tmp, image, extension=".png"))
                except OSError:
                    pass  # an unwritable cache only costs making it again next time
                if not stale():
                    self.imageReady.emit(name, image)

        self._thread = threading.Thread(target=work, name="thumbnails", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = False) -> None:
        self._generation += 1
        if wait and self._thread is not None:
            self._thread.join(timeout=10)
