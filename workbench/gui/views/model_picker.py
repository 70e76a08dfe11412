"""Recipe > Model: a searchable architecture picker (family, parameters, input size, weights status),
the pretrained-weights choice, Download (progress, cancel), "Import weights file..." and a plain line
saying when the app uses the network. All weights logic is in ``workbench.models.weights``; this view only
shows its data and starts its calls (the download as a session side job, the catalogue as a side task).
Its rows and wording come from the registered model sources (``workbench.models.sources``).
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ...config import RunConfig
from ...runtime.events import Progress
from ..jobs import JobFailed, JobKind, submit
from ..session_helpers import (DEFAULT_TAG, NONE, WeightsError, cached_tag, catalogue, named_tags, offline_places,
                               pretrained_defaults, search_examples, spec, status, tags)
from ..widgets.common import fit_columns
from .model_status import state_text, status_text

NETWORK_LINE = ("Network: the app downloads weights only when you press Download. Training, the LR finder, "
                "export and prediction never use the network; found without it: {}.")  # the sources' places
# the family (the model source: torchvision, timm, ...) is in the tooltip; the weights' state comes
# second so the narrow recipe column shows it without scrolling
COLUMNS = ("architecture", "weights", "params", "input")


class ModelPicker(QGroupBox):
    catalogue_loaded = Signal(int)      # number of architectures listed
    download_done = Signal(str)         # completed | cancelled | failed
    imported = Signal(str)              # the line an import of a weights file ended with
    status_shown = Signal(str)          # the chosen weights' status line, once looked up

    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.session = session
        self.search = QLineEdit()
        self.search.setPlaceholderText(f"Search architectures (e.g. {search_examples()})")
        self.search.textChanged.connect(self._filter)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeaderItem(2).setToolTip(   # the recipe check counts the model it trains
            "Parameters of the ImageNet model, with its 1000-class head; the model you train has a head for "
            "your classes, so the recipe check counts fewer (Lite0: 4.7 M here, 3.4 M with 10 classes)")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        # the weights / params / input columns are as wide as their content when the list arrives; the
        # names get the rest, and only a name longer than that is cut in the middle (the end tells
        # siblings apart; the tooltip is whole)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)   # the names take what the others
        header.setStretchLastSection(False)                               # leave: never a horizontal scroll
        self.table.setFixedHeight(200)
        self.table.cellClicked.connect(lambda row, _col: self._pick_row(row))
        self.tag_box = QComboBox()
        self.tag_box.setToolTip("Pretrained weights: none trains from random weights")
        self.tag_box.activated.connect(self._on_tag)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notes_label = QLabel()
        self.notes_label.setObjectName("dim")
        self.notes_label.setWordWrap(True)
        self.download_btn = QPushButton("Download")
        self.cancel_btn = QPushButton("Cancel")
        self.import_btn = QPushButton("Import weights file...")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_btn.setVisible(False)
        self.download_btn.clicked.connect(self.start_download)
        self.cancel_btn.clicked.connect(self.cancel_download)
        self.import_btn.clicked.connect(self.import_dialog)
        network = QLabel(NETWORK_LINE.format(offline_places()))
        network.setObjectName("dim")
        network.setWordWrap(True)

        row = QHBoxLayout()  # two rows, so the picker fits the recipe page's narrow column
        row.addWidget(QLabel("Weights:"))
        row.addWidget(self.tag_box, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.download_btn)
        buttons.addWidget(self.cancel_btn)
        buttons.addWidget(self.import_btn)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.search)
        lay.addWidget(self.table)
        lay.addLayout(row)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.status_label)
        lay.addWidget(self.notes_label)
        lay.addWidget(network)

        session.job_event.connect(self._on_download_event)
        session.job_failed.connect(self._on_download_failed)
        session.weights_imported.connect(self._on_imported)
        session.job_finished.connect(self._on_download_finished)
        self._rows: list = []
        self._downloading = False
        self._import_msg = ""
        self._shown = ("", "")
        self._status_for: tuple | None = None   # the weights whose status is being looked up
        session.config_changed.connect(self._on_config)
        self._on_config(session.config)
        self.reload_catalogue()

    # ----------------------------------------------------------------- catalogue
    def reload_catalogue(self) -> None:
        submit(catalogue, self._fill)

    def _fill(self, rows) -> None:
        if isinstance(rows, Exception):
            self.status_label.setText(f"Cannot list the architectures: {rows}")
            return
        self._rows = rows
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            cells = (r.arch, state_text(r.state, r.size_bytes), f"{r.params_m:.1f} M" if r.params_m else "",
                     str(r.input_size or ""))
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{r.arch} ({r.family}): {state_text(r.state, r.size_bytes)}"
                                + (f", weights {r.tag}: picking it selects them" if r.on_disk else ""))
                if r.on_disk and j == 0:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(i, j, item)
        fit_columns(self.table)   # column 0 stretches: its width is what the others leave
        self._filter(self.search.text())
        self._select_current()
        self.catalogue_loaded.emit(len(rows))

    def _select_current(self) -> None:
        arch = self.session.config.model.arch
        row = next((i for i, r in enumerate(self._rows) if r.arch == arch), -1)
        if row >= 0 and self.table.currentRow() != row:
            self.table.selectRow(row)

    @Slot(str)
    def _filter(self, text: str) -> None:
        words = text.lower().split()
        for i, r in enumerate(self._rows):
            self.table.setRowHidden(i, not all(w in f"{r.arch} {r.family}".lower() for w in words))

    def _pick_row(self, row: int) -> None:
        if 0 <= row < len(self._rows):
            self.pick(self._rows[row].arch)

    def pick(self, arch: str) -> None:
        """Choose ``arch``. Weights of it on this machine (bundled or cached) are selected with their
        recipe defaults; otherwise the pretrained tag is kept when the new model has it, else none."""
        cfg = self.session.config.set("model.arch", arch)
        on_disk = cached_tag(arch) if not cfg.model.weights else ""
        if on_disk:
            self.session.set_config(cfg)
            self.choose_weights(on_disk)
            return
        if cfg.model.pretrained.lower() != NONE and cfg.model.pretrained not in tags(arch):
            cfg = cfg.set("model.pretrained", NONE)
        self.session.set_config(cfg)

    # ----------------------------------------------------------------- weights choice
    @Slot(int)
    def _on_tag(self, index: int) -> None:
        self.choose_weights(self.tag_box.itemText(index))

    def choose_weights(self, tag: str) -> None:
        cfg, notes = pretrained_defaults(self.session.config.set("model.pretrained", tag))
        self.session.set_config(cfg)
        self.notes_label.setText("Pretrained recipe defaults: " + "; ".join(notes) if notes else "")

    @Slot(object)
    def _on_config(self, cfg: RunConfig) -> None:
        m = cfg.model
        if (m.arch, m.pretrained) != self._shown:
            self._shown = (m.arch, m.pretrained)
            self.tag_box.clear()
            self.tag_box.addItems([NONE, *named_tags(m.arch)])  # one name per set of weights
            current = m.pretrained
            if current == DEFAULT_TAG:  # shown under its own name
                try:
                    current = spec(m.arch, DEFAULT_TAG).tag
                except WeightsError:
                    pass
            self.tag_box.setCurrentText(current)
            self._select_current()
        self.refresh_status()

    def refresh_status(self, suffix: str = "") -> None:
        """The chosen weights' status line; the file is looked at off the GUI thread (the first look at
        a bundled file converts it), and an answer for weights no longer chosen is dropped."""
        m = self.session.config.model
        self.status_label.setToolTip("")
        if m.pretrained.lower() == NONE:
            self._status_for = None
            self.status_label.setText(f"{m.arch}: random initial weights" +
                                      (f" (starting from the file {m.weights})" if m.weights else "") + suffix)
            self.download_btn.setEnabled(False)
            return
        self._status_for = key = (m.arch, m.pretrained)
        self.download_btn.setEnabled(False)   # until the status says the weights can be downloaded
        self.status_label.setText(f"{m.arch}:{m.pretrained}: looking for the weights on this machine...")
        submit(lambda: status(*key), lambda st: self._show_status(key, st, suffix))

    def _show_status(self, key: tuple, st, suffix: str) -> None:
        if key != self._status_for:
            return
        if isinstance(st, Exception):   # a WeightsError says which weights and why
            self.status_label.setText(str(st) + suffix)
        else:
            self.status_label.setText(status_text(st) + suffix)
            self.status_label.setToolTip(str(st.path) if st.path else "")
            self.download_btn.setEnabled(st.state == "downloadable" and not self._downloading)
        self.status_shown.emit(self.status_label.text())

    # ----------------------------------------------------------------- download / import
    def start_download(self) -> bool:
        m = self.session.config.model
        if not self.session.download_weights(m.arch, m.pretrained):
            return False
        self._downloading = True
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_btn.setVisible(True)
        self.download_btn.setEnabled(False)
        return True

    def cancel_download(self) -> None:
        self.session.stop(JobKind.DOWNLOAD)

    @Slot(object, object)
    def _on_download_event(self, kind: JobKind, ev) -> None:
        if kind is JobKind.DOWNLOAD and isinstance(ev, Progress) and ev.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * ev.done / ev.total))
            self.progress.setFormat(ev.message)

    def _on_download_failed(self, ev: JobFailed) -> None:
        if ev.job is JobKind.DOWNLOAD:
            self.status_label.setText(ev.message)
        elif ev.job is JobKind.IMPORT_WEIGHTS:
            self._import_msg = ev.message

    @Slot(object, str)
    def _on_download_finished(self, kind: JobKind, result: str) -> None:
        if kind is not JobKind.DOWNLOAD:
            return self._import_ended() if kind is JobKind.IMPORT_WEIGHTS else None
        self._downloading = False
        self.progress.setVisible(False)
        self.cancel_btn.setVisible(False)
        if result != "failed":
            self.refresh_status(" (download cancelled; nothing was saved)" if result == "cancelled" else "")
        else:
            self.download_btn.setEnabled(True)
        self.reload_catalogue()
        self.download_done.emit(result)

    def import_file(self, path: str) -> bool:
        """Check and copy ``path`` into the cache for the chosen model, as a session side job (it hashes
        the file and loads it into the model); ``imported`` says how it went. False when it cannot start."""
        if not self.session.import_weights(path):
            self.notes_label.setText("a download is running; import the file when it has ended")
            return False
        self.import_btn.setEnabled(False)
        self._import_msg = "import cancelled"   # until its result or its failure arrives
        self.notes_label.setText(f"importing {path} ...")
        return True

    def _on_imported(self, result) -> None:
        if result.chosen and self.session.config.model.pretrained.lower() == NONE:
            self.choose_weights(result.tag)
        self.reload_catalogue()
        self._import_msg = f"imported {result.source} as {result.arch}:{result.tag} ({result.dest})"

    def _import_ended(self) -> None:
        self.import_btn.setEnabled(True)
        self.refresh_status()
        self.notes_label.setText(self._import_msg)
        self.imported.emit(self._import_msg)

    def import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import weights file", "",
                                              "Weights (*.pth *.pt *.safetensors *.bin);;All files (*)")
        if path:
            self.import_file(path)
