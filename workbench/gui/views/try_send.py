"""Try it's *Send the unsure ones to labelling* and its undo (a mixin of TryView): the send records the
images in the dataset's change list or its to-label list (``workbench.inference.to_label``, through the
Session); *Undo send* (or Ctrl+Z on the page) takes the sends back one at a time, newest first, so an
undo never skips one to take back an older change."""
from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QPushButton

from ..session_helpers import labelling_marks, same_dataset


class TrySending:
    """Mixin of TryView (needs session, result, sent, owner, status, unsure_rows, _split)."""

    def _make_undo_send(self) -> QPushButton:
        self._sends: list = []     # (dataset, SentToLabel, beside_data) of each send not undone, oldest first
        self._sending = False      # this page is writing: its own write is not "another page's"
        self.session.changes_edited.connect(self._list_written)
        btn = QPushButton("Undo send")
        btn.setToolTip("Take the last send back: its images leave the to-label list and the change list (Ctrl+Z)")
        btn.clicked.connect(self.undo_send)
        btn.hide()
        return btn

    def send_unsure(self) -> bool:
        """Send the unsure images to labelling (see workbench.inference.to_label); files are never moved."""
        rows = [r for r in self.unsure_rows() if r.path not in self.sent]
        if not rows or self.result is None or self.owner.foreign:
            return False
        dataset, beside = self.result.dataset, self.result.changes_beside_data
        try:
            self._sending = True
            sent = self.session.send_to_labelling(dataset, [(r.path, r.label, r.probability) for r in rows], beside)
        except (OSError, ValueError) as e:
            self.status.setText(f"<span style='color:#b42318'><b>Not sent:</b> {e}</span>")
            return False
        finally:
            self._sending = False
        for p in sent.in_dataset + sent.outside:
            self.sent[p] = "to label"
        waiting = labelling_marks(dataset, sent.unchanged, beside)
        for p in sent.unchanged:   # waiting for a label already, or relabelled / quarantined / kept: left as it is
            self.sent[p] = waiting.get(p, "left as is")
        text = html.escape(sent.summary())
        if sent.outside:   # the list lives in the per-user project folder: one click opens it
            url = QUrl.fromLocalFile(str(Path(sent.list_file).parent)).toString()
            text += f" <a href='{url}'>Open the list's folder</a>"
        if sent.in_dataset or sent.outside:
            self._sends.append((dataset, sent, beside))
            text += " <i>Undo send</i> (Ctrl+Z) takes it back."
        self.status.setText(text)
        self.undo_send_btn.setVisible(bool(self._sends))
        self._split()
        return True

    def undo_send(self) -> bool:
        """Take the last send not undone back (its to-label rows and 'to label' marks); False when none is left."""
        if not self._sends:
            before = sum(m == "to label" for m in self.sent.values())
            self.status.setText("Nothing to undo: no send made on this page is left to take back." + (
                f" {before} image(s) here were sent to labelling before (marked 'to label'): those of the dataset "
                "are in Results > Changes (Remove selected takes them out), the others in the to-label list file."
                if before else ""))
            return False
        dataset, sent, beside = self._sends[-1]
        try:
            self._sending = True
            n = self.session.take_back_from_labelling(dataset, sent, beside)
        except (OSError, ValueError) as e:
            self.status.setText(f"<span style='color:#b42318'><b>Not undone:</b> {html.escape(str(e))}</span>")
            return False
        finally:
            self._sending = False
        self._sends.pop()
        for p in sent.in_dataset + sent.outside + sent.unchanged:
            self.sent.pop(p, None)
        left = f" {len(self._sends)} earlier send(s) can be taken back too." if self._sends else ""
        self.status.setText(f"Undone: the send of {n} image(s) to labelling.{left}")
        self.undo_send_btn.setVisible(bool(self._sends))
        self._split()
        return True

    def _list_written(self, root: str) -> None:
        """Another page wrote the change list of the tried images' dataset (an undo on Results, a
        quarantine): every mark follows the lists, and a send stays one to take back only while all its
        images are still marked 'to label' (else it is no longer one thing to take back)."""
        if self._sending or self.result is None or not same_dataset(self.result.dataset, root):
            return
        self.sent = labelling_marks(self.result.dataset, list(self.rows), self.result.changes_beside_data)
        kept = [e for e in self._sends if all(self.sent.get(p) == "to label" for p in e[1].in_dataset + e[1].outside)]
        if len(kept) != len(self._sends):
            self._sends = kept
            self.undo_send_btn.setVisible(bool(kept))
            self.status.setText("Images sent to labelling were changed on another page; their marks here follow "
                                "the change list.")
        self._split()
