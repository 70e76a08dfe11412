"""Dataset report: a JSON-able dict of everything the scan found, and a readable text summary of it."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .scan import DatasetError
from .types import Dataset

if TYPE_CHECKING:
    from .stats import DatasetStats


def _group(problems) -> dict:
    out: dict[str, int] = {}
    for p in problems:
        out[p.kind] = out.get(p.kind, 0) + 1
    return dict(sorted(out.items()))


def dataset_report(ds: Dataset, stats: "DatasetStats | None") -> dict:
    """Full report: layout, classes, counts per split, problems, notes, and stats when given."""
    splits = [s for s in ("train", "valid", "test") if any(it.split == s for it in ds.items)]
    return {
        "root": ds.root,
        "layout": ds.layout,
        "split_source": ds.split_source,
        "classes": list(ds.classes),
        "n_images": len(ds.items),
        "totals": {s: len(ds.split(s)) for s in splits},
        "counts": {s: ds.counts(s) for s in splits},
        "problem_counts": _group(ds.problems),
        "skipped": sum(1 for p in ds.problems if p.skipped),
        "problems": [{"path": p.path, "kind": p.kind, "message": p.message, "skipped": p.skipped}
                     for p in ds.problems],
        "note_counts": _group(ds.notes),
        "notes": [{"path": p.path, "kind": p.kind, "message": p.message, "skipped": p.skipped}
                  for p in ds.notes],
        "stats": stats.to_dict() if stats is not None else None,
    }


def summary_text(report: dict, max_files: int = 8) -> str:
    """Readable multi-line summary of a dataset_report() dict."""
    lines = [f"Dataset: {report['root']}",
             f"Layout: {report['layout']}, split from {report['split_source']}",
             f"Images: {report['n_images']} usable ({', '.join(f'{s} {n}' for s, n in report['totals'].items())})",
             f"Classes ({len(report['classes'])}):"]
    splits = list(report["counts"])
    width = max([len(c) for c in report["classes"]] + [5])
    lines.append("  " + "class".ljust(width) + "".join(f"{s:>8}" for s in splits))
    for c in report["classes"]:
        lines.append("  " + c.ljust(width) + "".join(f"{report['counts'][s].get(c, 0):>8}" for s in splits))
    st = report.get("stats")
    if st:
        sz = st["sizes"]
        lines.append("Image sizes (px): width min {min:.0f} / median {median:.0f} / max {max:.0f}".format(**sz["width"])
                     + ", height min {min:.0f} / median {median:.0f} / max {max:.0f}".format(**sz["height"]))
        lines.append("Channel mean " + ", ".join(f"{x:.3f}" for x in st["mean"]) + "; std "
                     + ", ".join(f"{x:.3f}" for x in st["std"]) + f" (sample of {st['n_sampled']})")
    if report["problems"]:
        lines.append(f"Problems ({len(report['problems'])}, {report['skipped']} files skipped; nothing was "
                     f"moved or deleted):")
        for kind, n in report["problem_counts"].items():
            lines.append(f"  {kind} ({n}):")
            shown = [p for p in report["problems"] if p["kind"] == kind]
            for p in shown[:max_files]:
                lines.append(f"    {p['message']}")
            if len(shown) > max_files:
                lines.append(f"    ... and {len(shown) - max_files} more")
    else:
        lines.append("Problems: none")
    if report["note_counts"]:
        lines.append("Notes: " + ", ".join(f"{k} {n}" for k, n in report["note_counts"].items()))
    return "\n".join(lines)


MIN_CLASS_IMAGES = 5


MIN_VALID_IMAGES = 20   # fewer validation images: one image moves the accuracy by more than 5 points


def training_problems(ds: Dataset) -> tuple[list[str], list[str]]:
    """(problems that make training meaningless, warnings) for a scanned dataset: one class cannot
    be classified (it would train to "100 %" with loss 0); a class with fewer than 5 training images
    gives numbers that mean little."""
    errors, warnings = [], []
    present = sorted({it.label for it in ds.items})
    if len(present) < 2:
        names = ", ".join(ds.classes[i] for i in present) or "none"
        errors.append(f"data: the dataset has {len(present)} class with images ({names}); a classifier needs "
                      "at least two classes, each in its own sub-folder")
    if not errors and not ds.valid:
        single = [c for c, n in ds.counts().items() if n == 1]
        errors.append("data: no image is left for validation, so accuracy cannot be measured: a class needs at "
                      "least 2 images for one to be held out" + (f" ({', '.join(single)} have 1)" if single else "")
                      + ", or give a valid/ folder")
    elif not errors and not ds.train:
        errors.append("data: no training images (every image is in the validation set)")
    counts = ds.counts("train")
    few = [f"{c} ({counts.get(c, 0)})" for c in ds.classes if counts.get(c, 0) < MIN_CLASS_IMAGES]
    if few and not errors:
        warnings.append(f"data: fewer than {MIN_CLASS_IMAGES} training images in class(es) {', '.join(few)}; "
                        "their results will mean little")
    n_valid = len(ds.valid)
    if not errors and 0 < n_valid < MIN_VALID_IMAGES:
        warnings.append(f"data: only {n_valid} validation image{'s' if n_valid != 1 else ''}: one image moves the "
                        f"accuracy by {1 / n_valid:.0%}, so the numbers say little (a larger validation fraction "
                        "or valid/ folder helps)")
    return errors, warnings


def require_trainable(ds: Dataset) -> None:
    """Raise DatasetError (one sentence) when training on ``ds`` would be meaningless."""
    errors, _ = training_problems(ds)
    if errors:
        raise DatasetError(errors[0].removeprefix("data: "))
