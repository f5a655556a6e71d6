"""Main window: layout, menus, drag-and-drop of models, status bar, settings."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow, QMessageBox

import torch

import numpy as np

from core.model.bundle import RESOURCES, Bundle, open_model
from core.scans.scan import Scan, load_depth, sidecar_path
from core.scans.completion import category, fit_completion, fit_segments
from core.fileio import DataError, flush_denormals
from core.fit.latent import nearest_code
from core.mesh.meshing import EXPORT_FORMATS, SurfaceMesh, export_mesh
from core.evaluation.metrics import chamfer, sample_surface
from core.model.decoder import LatentTable
from core.scans.fusion import FusedObject, find_scene, fit_objects
from core.scans.segment import segment_scan
from core.scans.sequence import find_depths, load_sequence, sensor_settings

from .explore import ExplorePanel
from .exports import Exporter
from .optimize import SCAN_SUFFIXES, CameraDialog, OptimizePanel, open_scan_interactive
from .thumbnails import Thumbnails
from .viewer import Viewer
from .workers import JobService, MeshService

PREVIEW_RES = 64
FIT_PREVIEW_RES = 32  # refreshes while fitting stay cheap: the fit needs the CPU


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
        self.optimize = OptimizePanel(self)
        opt_dock = QDockWidget("Optimize", self)
        opt_dock.setObjectName("optimize")
        opt_dock.setWidget(self.optimize)
        self.addDockWidget(Qt.LeftDockWidgetArea, opt_dock)
        self.tabifyDockWidget(dock, opt_dock)
        dock.raise_()
        self.optimize_dock = opt_dock
        self.fitter = JobService(self)
        self.fitter.progress.connect(self._on_fit_progress)
        self.fitter.finished.connect(self._on_fit_done)
        self.fitter.cancelled.connect(self._on_fit_cancelled)
        self.fitter.failed.connect(self._on_fit_failed)
        self.optimize.startRequested.connect(self.start_fit)
        self.optimize.cancelRequested.connect(self.fitter.cancel)
        self.optimize.pointsChanged.connect(lambda pts: self.viewer.set_points(pts))
        self.optimize.open_button.clicked.connect(self.ask_open_scan)
        self.optimize.save_button.clicked.connect(self.ask_save_bundle)
        self.optimize.objectsChanged.connect(self._show_scene)
        self.viewer.pointPicked.connect(self.optimize.click_point)
        self.segmenter = JobService(self)  # a sensor's scan: floor, walls and objects (~0.5 s)
        self.segmenter.finished.connect(self._on_segmented)
        self.segmenter.failed.connect(self._on_segment_failed)
        self.segmenter.cancelled.connect(self._on_segment_cancelled)
        self.segmenter.progress.connect(lambda f: self.optimize.progress.setValue(round(100 * f)))
        self.optimize.cancelRequested.connect(self.segmenter.cancel)  # reading a long sequence
        self._scene_poses: dict[int, np.ndarray] = {}  # mesh request id -> model-to-camera of a live scene fit
        self._scene_fit = False
        self._shown_before_fit: SurfaceMesh | None = None
        self.world_meshes: SurfaceMesh | None = None  # a sequence's fitted objects, world frame (what export writes)
        self.fitted: tuple[str, torch.Tensor] | None = None
        self._evaluate_next_full_mesh = False
        self.scorer = JobService(self)  # Chamfer of a fit to the scan's ground truth (~40 ms: not on the GUI thread)
        self.scorer.finished.connect(self._on_score)
        self.status = QLabel()
        self.statusBar().addPermanentWidget(self.status)
        self.mesher = MeshService(self)
        self.mesher.meshReady.connect(self._on_mesh)
        self.mesher.failed.connect(lambda _, msg: self.error("Meshing failed", msg))
        self._mesher_busy = False
        self.mesher.busy.connect(lambda busy: setattr(self, "_mesher_busy", busy))
        self._request = 0
        self.explore.codeChanged.connect(self._on_code)
        self.thumbnails = Thumbnails(self)
        self.exporter = Exporter(self)
        self.exporter.done.connect(lambda msg: self.statusBar().showMessage(msg, 8000))
        self.exporter.failed.connect(lambda msg: self.error("Export failed", msg))
        self.thumbnails.ready.connect(self.explore.set_icon)
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
        self._action(file_menu, "Open official &experiment folder…", self.ask_open_experiment)
        self._action(file_menu, "Open &scan…", self.ask_open_scan, "Ctrl+D")
        self._action(file_menu, "Open scan se&quence folder…", self.ask_open_sequence)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._action(file_menu, "&Export mesh…", self.ask_export, "Ctrl+E")
        self._action(file_menu, "Export interpolation &sequence…", self.ask_export_sequence)
        self._action(file_menu, "Export &turntable (GIF/MP4)…", self.ask_export_turntable)
        self._action(file_menu, "&Screenshot…", self.ask_screenshot, "Ctrl+P")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.Quit)
        view = self.menuBar().addMenu("&View")
        self._action(view, "&Reset camera", self.viewer.reset_camera, "R")
        wire = self._action(view, "&Wireframe", self.viewer.set_wireframe, "W")
        wire.setCheckable(True)
        points = self._action(view, "Scan &points", self.viewer.set_points_visible, "P")
        points.setCheckable(True)
        points.setChecked(True)
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
        self.thumbnails.load(bundle)
        return True

    def ask_open_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model bundle", "", "Model bundle (*.safetensors);;All files (*)")
        if path:
            self.open_model(path)

    def ask_open_experiment(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open an official DeepSDF experiment (the folder with specs.json)")
        if folder:
            self.open_model(folder)

    # --- scans and fitting --------------------------------------------------------------------------
    def scan_folder(self) -> str:
        """Where File > Open scan starts: the folder of the last scan opened, else the sample scans shipped in
        ``resources/scans`` (a new user has none of their own yet)."""
        return str(self.settings.value("scan_folder", "") or RESOURCES / "scans")

    def ask_open_scan(self) -> None:
        patterns = " ".join(f"*{s}" for s in SCAN_SUFFIXES)
        paths, _ = QFileDialog.getOpenFileNames(self, "Open depth scan (several: frames of one scene, with poses)",
                                                self.scan_folder(), f"Depth images ({patterns});;All files (*)")
        if len(paths) > 1:
            self.open_sequence(paths)
        elif paths:
            self.open_scan(paths[0])

    def ask_open_sequence(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a sequence's folder (depth frames, poses, intrinsics)",
                                                  self.scan_folder())
        if folder:
            self.open_sequence([folder])

    def open_sequence(self, paths: list[str]) -> bool:
        """Several frames of one scene with camera poses (a folder, or files beside their poses): read and
        checked (``sequence.load_sequence``), segmented and their objects joined across frames in a worker.
        Without intrinsics in the folder or the frames' sidecars, the camera dialog asks for them."""
        first = Path(paths[0])
        folder = first if first.is_dir() else first.parent
        camera, depth_scale = None, None
        try:
            frames = find_depths(first) if first.is_dir() else [first]
        except DataError as e:
            self.error("Cannot open the sequence", str(e))
            return False
        if not sensor_settings(folder) and not sidecar_path(frames[0]).is_file():
            try:
                depth = load_depth(frames[0])
            except Exception as e:
                self.error("Cannot open the sequence", f"{frames[0]}\n\n{e}")
                return False
            dialog = CameraDialog(frames[0], depth.shape[1], depth.shape[0], self, sensor_only=True)
            if dialog.exec() != CameraDialog.Accepted:
                return False
            camera, depth_scale = dialog.camera(), dialog.depth_scale.value() or None
        poses = None if first.is_dir() else folder
        self.settings.setValue("scan_folder", str(folder.resolve()))
        self._request += 1
        self.segmenter.cancel()
        self.segmenter.wait()
        self.optimize_dock.raise_()
        self.optimize.result_label.setText("reading the frames, checking their poses, finding the objects…")
        self.world_meshes = None
        self.optimize.fitting(True)  # Cancel stops the reading; the bar shows the frames segmented
        self.optimize.progress.setRange(0, 100)

        def job(progress, cancelled):
            seq = load_sequence(paths, poses, camera, depth_scale, warn=lambda m: None)
            return find_scene(seq, progress, warn=lambda m: None, cancelled=cancelled), folder.name

        self.segmenter.start(job)
        return True

    def open_scan(self, path: str) -> bool:
        try:
            scan = open_scan_interactive(Path(path), self)
        except Exception as e:  # bad image or sidecar: say which and why, keep the current scan
            self.error("Cannot open scan", f"{path}\n\n{e}")
            return False
        if scan is None:
            return False
        self.optimize.set_scan(scan, Path(path))
        self.settings.setValue("scan_folder", str(Path(path).resolve().parent))
        self.optimize_dock.raise_()
        cam = scan.camera
        self.viewer.set_scan_frame(scan.camera_to_model is None, (cam.width / 2 / cam.fx, cam.height / 2 / cam.fy))
        if scan.camera_to_model is None:  # a sensor's scan: find the floor, walls and objects first
            self._request += 1  # a model's mesh still on its way (the app just opened) would leave the scan's frame
            self.segmenter.cancel()
            self.segmenter.wait()
            self.optimize.result_label.setText("finding the floor, walls and objects…")
            name = Path(path).name
            self.segmenter.start(lambda progress, cancelled: (scan, segment_scan(scan.depth, scan.camera, source=name)))
        return True

    def _on_segment_failed(self, message: str) -> None:
        self.optimize.fitting(False)
        self.optimize.result_label.setText("")
        self.error("Cannot find objects in the scan", message)

    def _on_segment_cancelled(self) -> None:
        if not self.segmenter.cancel_requested:
            return  # an older job's: a newer scan is being read, and its outcome will say
        self.optimize.fitting(False)
        self.optimize.result_label.setText("cancelled: nothing changed")

    def _on_segmented(self, payload) -> None:
        if not isinstance(payload[0], Scan):  # a sequence's scene
            scene, name = payload
            self.optimize.fitting(False)
            cam = scene.sequence.scans[0].camera
            self.optimize.set_sequence(scene, name)
            self.optimize.result_label.setText("")
            self.viewer.set_mesh(join_meshes([]))
            self.viewer.set_scan_frame(True, (cam.width / 2 / cam.fx, cam.height / 2 / cam.fy))
            self._show_scene()
            self.viewer.reset_camera()
            return
        scan, seg = payload
        if scan is not self.optimize.scan:
            return  # another scan was opened meanwhile
        self.optimize.result_label.setText("")
        self.viewer.set_mesh(join_meshes([]))  # the model's shape is in another frame: the scene alone
        self.optimize.set_scene(seg)
        self.viewer.reset_camera()  # frame the scene's points

    def _show_scene(self) -> None:
        if self.optimize.scene is not None or self.optimize.sequence is not None:
            points, colors, ids = self.optimize.scene_points()
            self.viewer.set_points(points, colors)
            self.viewer.set_labels(*self.optimize.rejected_labels(points, ids, category(self.bundle) if self.bundle else "shape"))

    def start_fit(self) -> None:
        if self.fitter.running:
            return
        if self.bundle is not None and self.optimize.sequence is not None:
            return self._start_sequence_fit()
        if self.bundle is None or self.optimize.scan is None:
            self.error("Nothing to fit", "Open a depth scan first (File ▸ Open scan, or drop one on the window).")
            return
        if self.optimize.scan.camera_to_model is None:
            return self._start_scene_fit()
        self.optimize.fitting(True)
        scan, seed = self.optimize.noisy_scan(), self.optimize.seed.value()
        decoder, method, iterations = self.bundle.decoder, self.optimize.method.currentText(), self.optimize.iterations.value()
        init = self.bundle.latents.codes

        def job(progress, cancelled):  # samples are made in the worker too: ~50 ms the GUI need not wait
            return fit_completion(decoder, scan, init, method, seed=seed, iterations=iterations, cancelled=cancelled,
                                  progress=lambda i, loss, z: progress((i, loss, z.detach().cpu().clone())))

        self.fitter.start(job)

    def _start_scene_fit(self) -> None:
        """Pose and shape of the chosen objects of a sensor's scan; meshes come back in its camera frame."""
        seg, labels = self.optimize.scene, self.optimize.chosen_labels()
        if seg is None or not labels:
            self.error("Nothing to fit", "The scan's objects are still being found." if seg is None else
                       "Click an object in the view or the list (Ctrl-click for several).")
            return
        self.optimize.fitting(True)
        self._shown_before_fit = self.viewer.mesh if self.viewer.scan_frame else None
        self._scene_fit = True
        bundle, scan, res = self.bundle, self.optimize.scan, self.explore.res()
        segments = [s for s in seg.segments if s.label in labels]

        def job(progress, cancelled):
            return fit_segments(bundle, scan, seg, segments, res, lambda f, fit: progress(("scene", f, fit)), cancelled,
                                warn=lambda m: None)

        self.fitter.start(job)

    def _start_sequence_fit(self) -> None:
        """Each chosen object of a sequence fitted over every frame that sees it; meshes shown from the first
        frame's camera, exported in the world frame."""
        scene, chosen = self.optimize.sequence, self.optimize.chosen_labels()
        if not chosen:
            self.error("Nothing to fit", "Click an object in the view or the list (Ctrl-click for several).")
            return
        self.optimize.fitting(True)
        self._shown_before_fit = self.viewer.mesh
        self._scene_fit = True
        bundle, res = self.bundle, self.explore.res()
        first = np.linalg.inv(scene.sequence.camera_to_world[0])
        objects = [scene.objects[k] for k in chosen]

        def job(progress, cancelled):
            fitted = []
            for k, obj in enumerate(objects):  # the live preview needs each object's first camera
                shown = first @ scene.sequence.camera_to_world[obj.anchor.frame]
                report = (lambda f, fit, k=k, shown=shown: progress(
                    ("scene", (k + f) / len(objects), None if fit is None else replace(fit, model_to_camera=shown @ fit.model_to_camera))))
                fitted += fit_objects(bundle, scene, [obj], res, report, cancelled, warn=lambda m: None)
            return [(k, o) for k, o in zip(chosen, fitted)]

        self.fitter.start(job)

    def _on_fit_progress(self, payload) -> None:
        if payload[0] == "scene":
            _, fraction, fit = payload
            self.optimize.progress.setValue(round(100 * fraction))
            if fit is not None and not self._mesher_busy:  # the pose and shape so far, in the scan's frame
                self._mesher_busy = True
                self._request = self.mesher.request(self.bundle.decoder, fit.code, FIT_PREVIEW_RES, progressive=False)
                self._scene_poses = {self._request: fit.model_to_camera}
            return
        iteration, loss, z = payload
        self.optimize.add_loss(iteration, loss)
        if not self._mesher_busy:  # refresh the preview only when the last one is done: the fit keeps the CPU
            self._mesher_busy = True
            self._request = self.mesher.request(self.bundle.decoder, z, FIT_PREVIEW_RES, progressive=False)

    def _on_fit_done(self, result) -> None:
        self.optimize.fitting(False)
        self.optimize.progress.setValue(self.optimize.progress.maximum())
        if isinstance(result, list) and result and isinstance(result[0], tuple):  # a sequence's objects
            self._scene_fit, self._scene_poses = False, {}
            self._request += 1
            first = np.linalg.inv(self.optimize.sequence.sequence.camera_to_world[0])
            fused: list[FusedObject] = [o for _, o in result]
            self.world_meshes = join_meshes([o.mesh for o in fused])
            self.viewer.set_mesh(join_meshes([o.mesh.moved(first) for o in fused]))
            self._fitted_status(len(fused))
            kind = category(self.bundle)
            self.optimize.mark_checked({k: o.found.check for k, o in result if o.found.check is not None}, kind)
            self.optimize.result_label.setText("\n".join(
                f"object {k + 1}: {len({v.frame for v in o.views})} frames, scale {o.found.scale:.3f}, loss {o.found.fit.loss:.4f}, "
                f"{o.found.fit.seconds:.1f} s; nearest training shape {o.found.nearest}"
                + ("" if o.found.check is None or o.found.check.known else f"; NOT a {kind} (score {o.found.check.score:.2f})")
                for k, o in result) + "\nFile ▸ Export mesh writes them in the world frame of the poses.")
            return
        if isinstance(result, list):  # a scene's objects, meshed in its camera frame
            self._scene_fit = False
            self._request += 1  # a live preview still in flight is stale now
            self._scene_poses = {}
            self.viewer.set_mesh(join_meshes([o.mesh for o in result]))
            self._fitted_status(len(result))
            kind = category(self.bundle)
            self.optimize.mark_checked({o.segment.label: o.check for o in result if o.check is not None}, kind)
            self.optimize.result_label.setText("\n".join(
                f"object {o.segment.label}: scale {o.scale:.3f}, loss {o.fit.loss:.4f}, {o.fit.iterations} iterations, "
                f"{o.fit.seconds:.1f} s; nearest training shape {o.nearest}"
                + ("" if o.check is None or o.check.known else f"; NOT a {kind} (score {o.check.score:.2f})") for o in result)
                + "\nFile ▸ Export mesh writes them in the scan's frame.")
            return
        self.optimize.save_button.setEnabled(True)
        name = f"fit {len([n for n in self.explore.extra if n.startswith('fit')]) + 1}"
        if self.optimize.scan is not None and self.optimize.scan.ground_truth:
            name += f" ({self.optimize.scan.ground_truth})"
        self.fitted = (name, result.code)
        i, distance = nearest_code(self.bundle.latents.codes, result.code)
        self.optimize.result_label.setText(
            f"{result.method}: {result.iterations} iterations, {result.seconds:.2f} s, loss {result.losses[-1]:.5f}\n"
            f"nearest training shape: {self.bundle.latents.names[i]} (latent distance {distance:.3f})")
        self._evaluate_next_full_mesh = self.optimize.truth is not None
        self.explore.add_code(name, result.code)  # shows it at full resolution

    def _on_fit_cancelled(self) -> None:
        self.optimize.fitting(False)
        self.optimize.result_label.setText("cancelled: nothing changed")
        if self._scene_fit:  # its live preview goes, what was shown before comes back
            self._scene_fit, self._scene_poses, self._request = False, {}, self._request + 1
            self.viewer.set_mesh(self._shown_before_fit or join_meshes([]))
            return
        self.explore._emit(False)  # back to the shape that was shown

    def _on_fit_failed(self, message: str) -> None:
        self.optimize.fitting(False)
        self._scene_fit = False
        self.error("Fit failed", message)

    def ask_save_bundle(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save model with the fitted code", "model.safetensors",
                                              "Model bundle (*.safetensors)")
        if path:
            self.save_bundle_with_fit(path)

    def save_bundle_with_fit(self, path: str) -> bool:
        if self.fitted is None or self.bundle is None:
            return False
        name, z = self.fitted
        lt = self.bundle.latents
        latents = LatentTable(torch.cat([lt.codes, z[None]]), lt.names + [name],
                              torch.cat([lt.offsets, torch.zeros(1, 3)]), torch.cat([lt.scales, torch.ones(1)]))
        try:
            self.bundle.with_codes(latents).save(path)
        except Exception as e:
            self.error("Save failed", f"{path}\n\n{e}")
            return False
        self.statusBar().showMessage(f"saved {path}", 5000)
        return True

    # --- meshing ----------------------------------------------------------------------------------
    def _on_code(self, z, preview: bool) -> None:
        if self.bundle is None:
            return
        res = self.explore.res()
        self.settings.setValue("resolution", res)
        self._request = self.mesher.request(self.bundle.decoder, z, min(res, PREVIEW_RES) if preview else res,
                                            progressive=not preview)

    def _fitted_status(self, count: int) -> None:
        """The status bar names the fitted objects' meshes, not the last coarse preview shown during the fit."""
        self.status.setText(f"{self.bundle.decoder.device.type.upper()} · {self.explore.res()}³ · {count} fitted object(s)")

    def _on_mesh(self, rid: int, mesh) -> None:
        if rid != self._request:
            return  # stale
        if rid in self._scene_poses:  # a scene fit's preview: into the scan's frame
            mesh = mesh.moved(self._scene_poses[rid])
        elif self.viewer.scan_frame:  # a shape of the model: back to the model's frame
            self.viewer.set_points(None)
            self.viewer.set_scan_frame(False)
        self.viewer.set_mesh(mesh)
        s = mesh.stats
        text = (f"{s.get('device', 'cpu').upper()} · {s['res']}³ · {s['evaluated']:,} points "
                f"({s['fraction']:.1%}) · eval {s['eval_ms']:.0f} ms · mesh {s['mc_ms']:.0f} ms")
        if mesh.is_empty:
            text += f" · empty: {s['empty_reason']}"
        self.status.setText(text)
        if self._evaluate_next_full_mesh and s["res"] == self.explore.res() and not mesh.is_empty and not self.scorer.running:
            self._evaluate_next_full_mesh = False
            truth = self.optimize.truth
            self.scorer.start(lambda progress, cancelled: chamfer(sample_surface(mesh, 10_000), truth))

    def _on_score(self, cd: float) -> None:
        self.optimize.result_label.setText(self.optimize.result_label.text() + f"\nChamfer to ground truth: {1e3 * cd:.3f} ×10⁻³")

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
        """The mesh on screen; a sequence's fitted objects in the world frame of its poses."""
        fused = self.optimize.sequence is not None and self.world_meshes is not None
        try:
            export_mesh(self.world_meshes if fused else self.viewer.mesh, path)
        except Exception as e:
            self.error("Export failed", f"{path}\n\n{e}")
            return False
        self.statusBar().showMessage(f"exported {path}", 5000)
        return True

    def ask_export_sequence(self) -> None:
        if self.bundle is None:
            return
        steps, ok = QInputDialog.getInt(self, "Export interpolation sequence", "Steps from A to B:", 10, 2, 500)
        if not ok:
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder for the sequence")
        if folder:
            self.export_sequence(folder, steps)

    def export_sequence(self, folder: str, steps: int) -> bool:
        """Mesh A→B (the pickers, linear or spherical as set) at the current resolution into ``folder``."""
        e = self.explore
        return self.exporter.sequence(self.bundle.decoder, e.code_of(e.a.currentText()), e.code_of(e.b.currentText()),
                                      folder, steps, e.res(), e.spherical.isChecked())

    def ask_export_turntable(self) -> None:
        if self.viewer.mesh is None or self.viewer.mesh.is_empty:
            self.error("Nothing to export", "There is no mesh on screen yet.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export turntable", "turntable.gif", "GIF (*.gif);;MP4 (*.mp4)")
        if path:
            self.export_turntable(path)

    def export_turntable(self, path: str, frames: int = 36) -> bool:
        return self.exporter.turntable(self.viewer.mesh, path, frames)

    def ask_screenshot(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "view.png", "PNG (*.png)")
        if path:
            self.screenshot(path)

    def screenshot(self, path: str) -> bool:
        try:
            self.viewer.screenshot(path)
        except Exception as e:
            self.error("Screenshot failed", f"{path}\n\n{e}")
            return False
        self.statusBar().showMessage(f"saved {path}", 5000)
        return True

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
        paths = [url.toLocalFile() for url in event.mimeData().urls()]
        scans = [p for p in paths if Path(p).suffix.lower() in SCAN_SUFFIXES]
        if len(scans) > 1 or (len(paths) == 1 and Path(paths[0]).is_dir() and not (Path(paths[0]) / "specs.json").is_file()):
            self.open_sequence(scans or paths)  # frames of one scene, or a sequence's folder
            return
        for url in event.mimeData().urls():
            path = url.toLocalFile()
            if Path(path).suffix.lower() in SCAN_SUFFIXES:
                self.open_scan(path)
            else:
                self.open_model(path)
            break

    def closeEvent(self, event) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.fitter.cancel()
        self.fitter.wait()
        self.exporter.close()
        self.thumbnails.close()
        self.mesher.shutdown()
        self.viewer.close()
        super().closeEvent(event)


def join_meshes(meshes: list[SurfaceMesh]) -> SurfaceMesh:
    """One mesh of several (a scene's objects), for the view and for export."""
    meshes = [m for m in meshes if not m.is_empty]
    if not meshes:
        return SurfaceMesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64), {"empty_reason": "no surface"})
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    return SurfaceMesh(np.concatenate([m.vertices for m in meshes]),
                       np.concatenate([m.faces + o for m, o in zip(meshes, offsets)]), dict(meshes[0].stats))


def run(argv: list[str]) -> int:
    flush_denormals()  # before any worker thread starts: new threads inherit the setting
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(argv[0] if argv else None)
    window.show()
    return app.exec()
