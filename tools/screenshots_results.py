"""Screenshots of the run pages (Results, confusion matrix, top losses, TTA, Runs, Export) at 1280x800.

    python tools/screenshots_results.py [--data shapes|demo] [--runs DIR] [--out docs/screenshots] [--epochs N]

Trains two short runs into --runs unless that folder already holds finished runs: on the synthetic
shapes set of the tests (tests/synth.py, 4 classes; learns in a few CPU minutes) or on the demo dataset
(workbench.data.demo_path(), with the demo recipe and the demo recipe + MixUp; use --epochs 20). Then drives the real pages offscreen
(QT_QPA_PLATFORM=offscreen by default) and saves results.png, confusion.png, top_losses.png, tta.png,
runs.png, export.png and try_it.png. The Results pages show the most accurate run.

    python tools/screenshots_results.py --only try_it --runs DIR [--images FOLDER]

takes only try_it.png: the Try it page of the most accurate run in DIR with FOLDER's images dropped on it
(default: the run's validation images).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SIZE = (1280, 800)


def dataset(kind: str, runs_dir: Path) -> tuple[Path, int]:
    """(dataset folder, training image size) for ``kind``."""
    if kind == "demo":
        from workbench.data import demo_path
        return demo_path(), 64
    sys.path.insert(0, str(ROOT / "tests"))
    from synth import make_shapes_dataset
    folder = runs_dir.parent / "shapes4"
    if not folder.is_dir():
        make_shapes_dataset(folder, classes=("circle", "cross", "square", "triangle"), n_train=40, n_valid=12,
                            size=48, seed=3)
    return folder, 32


def train_demo_runs(runs_dir: Path, epochs: int, kind: str = "shapes") -> list[Path]:
    """Two short runs with different recipes (for the comparison page)."""
    from workbench.config import RunConfig
    from workbench.train.run import train
    data, size = dataset(kind, runs_dir)
    if kind == "demo":  # the demo recipe, and the same with MixUp, for the comparison page
        from workbench.recipe.presets import demo_recipe
        base = demo_recipe(data, runs_dir).set("train.epochs", epochs).set("tta.n", 2)
        recipes = [base.set("name", "demo-recipe"), base.set("name", "demo-mixup").set("tricks.mixup", 0.4)]
    else:
        base = (RunConfig().set("data.path", str(data)).set("runs_dir", str(runs_dir))
                .set("data.image_size", size).set("data.batch_size", 32).set("train.epochs", epochs)
                .set("model.arch", "resnet18").set("tta.n", 2))
        recipes = [base.set("name", f"{kind}-lr3e-3").set("train.lr", 3e-3),
                   base.set("name", f"{kind}-lr1e-3-smooth").set("train.lr", 1e-3).set("tricks.label_smoothing", 0.1)]
    out = []
    for cfg in recipes:
        t0 = time.time()
        res = train(cfg)
        print(f"trained {res.run_dir}: {res.status} {res.metrics.get('valid_accuracy')} in {time.time() - t0:.0f} s")
        out.append(Path(res.run_dir))
    return out


def accuracy(run_dir: Path) -> float:
    import json
    try:
        return float(json.loads((run_dir / "metrics.json").read_text()).get("valid_accuracy") or 0.0)
    except (OSError, ValueError):
        return 0.0


def wait_until(pred, timeout: float = 300.0, what: str = "") -> None:
    from PySide6.QtCore import QCoreApplication
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        QCoreApplication.processEvents()
        time.sleep(0.02)
    QCoreApplication.processEvents()


def thumbs_loaded(*galleries) -> bool:
    """True when each gallery has decoded the thumbnails of the items its viewport shows."""
    for g in galleries:
        area = g.list.viewport().rect()
        for i, p in enumerate(g.paths()):
            if g.list.visualRect(g.model.index(i)).intersects(area) and not g.model.thumbnail_loaded(p):
                return False
    return True


def save(widget, path: Path) -> None:
    from PySide6.QtCore import QCoreApplication
    for _ in range(5):
        QCoreApplication.processEvents()
    widget.grab().save(str(path))
    print(f"wrote {path}")


def render(runs: list[Path], out: Path) -> None:
    from workbench.gui.app import make_app
    from workbench.gui.jobs import wait_side_tasks
    from workbench.gui.run_pages import make_pages
    from workbench.gui.session import Session
    make_app()  # the app's style sheet and plot colours
    out.mkdir(parents=True, exist_ok=True)
    session = Session()
    session.set_config(session.config.set("runs_dir", str(runs[0].parent)))
    pages = make_pages(session)
    results, export, runs_page = pages["Results"], pages["Export"], pages["Runs"]
    for w in pages.values():
        w.resize(*SIZE)
        w.show()
    session.open_run(str(runs[0]))
    wait_until(lambda: results.preds is not None and not session.busy, what="interpretation")
    results.tabs.setCurrentIndex(0)
    save(results, out / "results.png")
    # confusion matrix with the most confused cell opened
    results.tabs.setCurrentIndex(1)
    if results.confusion.pairs.count() and results.confusion.pairs.item(0).data(256):
        results.confusion.pairs.setCurrentRow(0)
        results.confusion._pair_clicked(results.confusion.pairs.item(0))
    wait_until(lambda: thumbs_loaded(results.cell_gallery), 60, "thumbnails")
    save(results, out / "confusion.png")
    # top losses with Grad-CAM overlays
    results.tabs.setCurrentIndex(2)
    results.losses.overlay_box.setChecked(True)
    shown = results.losses.paths()[:24]
    wait_until(lambda: all(p in results.cams for p in shown), what="Grad-CAM overlays")
    wait_side_tasks()
    save(results, out / "top_losses.png")
    # TTA
    results.tabs.setCurrentIndex(3)
    results.compute_tta()
    wait_until(lambda: results.tta.result is not None and not session.busy, what="TTA")
    wait_until(lambda: thumbs_loaded(results.tta.fixed, results.tta.broken), 60, "thumbnails")
    save(results, out / "tta.png")
    # runs: compare the two runs
    runs_page.refresh()
    wait_until(lambda: runs_page.table.rowCount() >= len(runs), what="run list")
    runs_page.select_names([r.name for r in runs])
    save(runs_page, out / "runs.png")
    # export with parity + a single-image prediction
    export.boxes["onnx"].setChecked(True)
    export.start_export()
    wait_until(lambda: not session.busy, what="export")
    export.predict_image(results.preds.paths[0])
    wait_until(lambda: export.predict_result is not None, what="prediction")
    save(export, out / "export.png")
    wait_side_tasks()
    render_try_it(session, pages["Try it"], runs[0], None, out)


def render_try_it(session, view, run: Path, images: Path | None, out: Path) -> None:
    """The Try it page with a folder of images dropped on the run's model, the threshold at 40 %."""
    from workbench.config import RunConfig
    from workbench.gui.jobs import wait_side_tasks
    out.mkdir(parents=True, exist_ok=True)
    if images is None:
        data = Path(RunConfig.load(run / "config.toml").data.path)
        images = data / "valid" if (data / "valid").is_dir() else data
    view.resize(*SIZE)
    view.show()
    view.set_run(str(run))
    view.slider.setValue(40)
    view.add_paths([str(images)])
    wait_until(lambda: view.result is not None and not session.busy, what="try it")
    def shown_loaded(lst, model) -> bool:
        area = lst.viewport().rect()
        return all(model.thumbnail_loaded(it.path) for i, it in enumerate(model.items)
                   if lst.visualRect(model.index(i)).intersects(area))
    wait_until(lambda: shown_loaded(view.sure_list, view.sure_model) and
               shown_loaded(view.unsure_list, view.unsure_model), 60, "thumbnails")
    wait_side_tasks()
    save(view, out / "try_it.png")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=("shapes", "demo"), default="shapes")
    ap.add_argument("--runs", default="")
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--only", choices=("try_it",), help="take only this screenshot (of the runs in --runs)")
    ap.add_argument("--images", default="", help="the folder dropped on the Try it page")
    args = ap.parse_args(argv)
    runs_dir = Path(args.runs or ROOT / "build" / f"screenshot-runs-{args.data}")
    have = sorted(p for p in runs_dir.glob("*") if (p / "metrics.json").is_file()) if runs_dir.is_dir() else []
    if args.only == "try_it":
        from workbench.gui.app import make_app
        from workbench.gui.run_pages import make_pages
        from workbench.gui.session import Session
        if not have:
            raise SystemExit(f"no finished runs in {runs_dir}")
        make_app()
        session = Session()
        pages = make_pages(session)
        render_try_it(session, pages["Try it"], max(have, key=accuracy), Path(args.images) if args.images else None,
                      Path(args.out))
        return 0
    runs = have if len(have) >= 2 else train_demo_runs(runs_dir, args.epochs, args.data)
    render(sorted(runs, key=accuracy, reverse=True), Path(args.out))  # the best run in the Results pages
    return 0


if __name__ == "__main__":
    sys.exit(main())
