"""Main window: layout, menus, drag-and-drop of models, status bar, settings."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox

from core.bundle import Bundle, open_model
from core.meshing import EXPORT_FORMATS, export_mesh

from .explore import ExplorePanel
from .viewer import Viewer
from .workers import MeshService

PREVIEW_RES = 64


class MainWindow(QMainWindow):
    def __init__(self, model: str | None = None):
        super().__init__()
        self.settings = QSettings("DeepSDF Explorer", "DeepSDF Explorer")
        self.bundle: Bundle | None = None
        self.model_name = ""
        self.viewer = Viewer(self)
        self.setCentralWidget(self.viewer)
        self.explore = ExplorePanel(self)
        dock = QDockWidget("Explore", self)
        dock.setObjectName("explore")
        dock.setWidget(self.explore)
        self.addDockWidget(Qt.LeftDockWidgetArea, dock)
        self.status = QLabel()
        self.statusBar().addPermanentWidget(self.status)
        self.mesher = MeshService(self)
        self.mesher.meshReady.connect(self._on_mesh)
        self.mesher.failed.connect(lambda _, msg: self.error("Meshing failed", msg))
        self._request = 0
        self._requested_at = 0.0
        self.explore.codeChanged.connect(self._on_code)
        self._build_menus()
        self.setAcceptDrops(True)
        self.resize(1200, 800)
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        res = self.settings.value("resolution")
        if res:
            self.explore.resolution.setCurrentText(str(res))
        self.open_model(model or "default")

    # --- menus ------------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open model…", self.ask_open_model, QKeySequence.Open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._action(file_menu, "&Export mesh…", self.ask_export, "Ctrl+E")
        self._action(file_menu, "&Screenshot…", self.ask_screenshot, "Ctrl+P")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.Quit)
        view = self.menuBar().addMenu("&View")
        self._action(view, "&Reset camera", self.viewer.reset_camera, "R")
        wire = self._action(view, "&Wireframe", self.viewer.set_wireframe, "W")
        wire.setCheckable(True)
        self._refresh_recent()

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.value("recent", [], type=list):
            self._action(self.recent_menu, path, lambda _=False, p=path: self.open_model(p))

    # --- model ------------------------------------------------------------------------------------
    def open_model(self, spec: str) -> bool:
        try:
            bundle = open_model(spec)
        except Exception as e:  # any bad file: tell the user, keep the current model
            self.error("Cannot open model", f"{spec}\n\n{e}")
            return False
        self.bundle = bundle
        self.model_name = "default" if spec == "default" else Path(spec).name
        self.setWindowTitle(f"DeepSDF Explorer — {self.model_name} ({len(bundle.latents)} shapes)")
        if spec != "default":
            recent = [spec] + [p for p in self.settings.value("recent", [], type=list) if p != spec]
            self.settings.setValue("recent", recent[:8])
            self._refresh_recent()
        self.settings.setValue("last_model", spec)
        self.explore.set_latents(bundle.latents)
        return True

    def ask_open_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model bundle", "", "Model bundle (*.safetensors);;All files (*)")
        if path:
            self.open_model(path)

    # --- meshing ----------------------------------------------------------------------------------
    def _on_code(self, z, preview: bool) -> None:
        if self.bundle is None:
            return
        res = self.explore.res()
        self.settings.setValue("resolution", res)
        self._requested_at = time.perf_counter()
        self._request = self.mesher.request(self.bundle.decoder, z, min(res, PREVIEW_RES) if preview else res,
                                            progressive=not preview)

    def _on_mesh(self, rid: int, mesh) -> None:
        if rid != self._request:
            return  # stale
        self.viewer.set_mesh(mesh)
        s = mesh.stats
        text = (f"{s.get('device', 'cpu').upper()} · {s['res']}³ · {s['evaluated']:,} points "
                f"({s['fraction']:.1%}) · eval {s['eval_ms']:.0f} ms · mesh {s['mc_ms']:.0f} ms")
        if mesh.is_empty:
            text += f" · empty: {s['empty_reason']}"
        self.status.setText(text)

    # --- export -----------------------------------------------------------------------------------
    def ask_export(self) -> None:
        if self.viewer.mesh is None or self.viewer.mesh.is_empty:
            self.error("Nothing to export", "There is no mesh on screen yet.")
            return
        filters = ";;".join(f"{ext[1:].upper()} (*{ext})" for ext in EXPORT_FORMATS)
        path, _ = QFileDialog.getSaveFileName(self, "Export mesh", "shape.ply", filters)
        if path:
            self.export(path)

    def export(self, path: str) -> bool:
        try:
            export_mesh(self.viewer.mesh, path)
        except Exception as e:
            self.error("Export failed", f"{path}\n\n{e}")
            return False
        self.statusBar().showMessage(f"exported {path}", 5000)
        return True

    def ask_screenshot(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "view.png", "PNG (*.png)")
        if path:
            self.viewer.screenshot(path)

    def error(self, title: str, text: str) -> None:
        self.statusBar().showMessage(f"{title}: {text.splitlines()[0]}", 8000)
        if not getattr(self, "quiet_errors", False):
            QMessageBox.warning(self, title, text)
        self.last_error = f"{title}: {text}"

    # --- drag and drop ----------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            self.open_model(url.toLocalFile())
            break

    def closeEvent(self, event) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.mesher.shutdown()
        self.viewer.close()
        super().closeEvent(event)


def run(argv: list[str]) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(argv[0] if argv else None)
    window.show()
    return app.exec()
