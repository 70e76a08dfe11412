"""Images plus a labels CSV (columns file,label[,is_valid]; paths relative to the dataset folder)."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from .scan import DatasetError, Entry, Listing, is_image_name, rel, walk_images
from .types import TRAIN, VALID, Problem

FILE_COLS = ("file", "filename", "fname", "path", "image")
LABEL_COLS = ("label", "class", "category")
VALID_COLS = ("is_valid", "valid", "is_val")
TRUE = {"1", "true", "yes", "y", "t", "valid", "val"}
FALSE = {"0", "false", "no", "n", "f", "train", ""}


def resolve_csv(root: Path, labels_csv: str) -> Path:
    """The CSV path: absolute, else relative to the dataset folder, else to the working folder."""
    p = Path(labels_csv).expanduser()
    if p.is_absolute():
        cands = [p]
    else:
        cands = [root / p, Path.cwd() / p]
    for c in cands:
        if c.is_file():
            return c
    raise DatasetError(f"labels CSV not found: {cands[0]}")


def _inside(root_abs: str, path: str) -> bool:
    """Whether the normalised absolute ``path`` lies inside ``root_abs``. Judged on the path as
    written (``..`` and absolute paths elsewhere are refused); symbolic links inside the dataset are
    followed, as in a class-folder dataset, so images linked in from other disks can be used."""
    try:
        return os.path.commonpath([root_abs, path]) == root_abs
    except ValueError:  # different drives (Windows)
        return False


def _pick(header: list[str], names: tuple) -> int | None:
    low = [h.strip().lower() for h in header]
    for n in names:
        if n in low:
            return low.index(n)
    return None


def read_rows(csv_path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, row) pairs; the delimiter (, ; tab) is detected."""
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{csv_path}: not UTF-8 text ({e})") from e
    except OSError as e:
        raise DatasetError(f"{csv_path}: cannot read ({e.strerror or e})") from e
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:  # parsed as one stream: a quoted field may hold a line break (reported, never split or merged)
        reader = csv.reader(io.StringIO(text, newline=""), dialect)
        rows, start = [], 1
        for r in reader:
            rows.append((start, r))  # the line the row starts on
            start = reader.line_num + 1
    except csv.Error as e:
        raise DatasetError(f"{csv_path}: not a readable CSV file ({e})") from None
    if not rows:
        raise DatasetError(f"{csv_path}: the file is empty; expected a header with columns file,label")
    return rows[0][1], [(line, r) for line, r in rows[1:] if any(c.strip() for c in r)]


def list_csv(root: Path, labels_csv: str) -> Listing:
    """Entries from the CSV plus problems for unknown files, missing labels and unlisted images."""
    csv_path = resolve_csv(root, labels_csv)
    header, rows = read_rows(csv_path)
    fi, li, vi = _pick(header, FILE_COLS), _pick(header, LABEL_COLS), _pick(header, VALID_COLS)
    if fi is None or li is None:
        raise DatasetError(f"{csv_path}: needs columns 'file' and 'label' (found: {', '.join(header)})")
    name = csv_path.name
    listing = Listing(root, "csv", split_given=vi is not None, csv_path=str(csv_path))
    seen: dict[str, int] = {}
    root_abs = os.path.abspath(root)
    for line, row in rows:
        row = row + [""] * (len(header) - len(row))
        f, label = row[fi].strip(), row[li].strip()
        if not f:
            listing.problems.append(Problem(str(csv_path), "csv_missing_file",
                                            f"{name} row {line}: the file column is empty"))
            continue
        p = Path(os.path.normpath(f if os.path.isabs(f) else os.path.join(root_abs, f)))
        if not _inside(root_abs, str(p)):
            listing.problems.append(Problem(str(csv_path), "csv_outside_root",
                                            f"{name} row {line}: file '{f}' is outside the dataset folder "
                                            f"{root}; only files inside it are used"))
            continue
        r = rel(root, p)
        if not p.is_file() or not is_image_name(p.name):
            why = "does not exist" if not p.exists() else "is not an image file"
            listing.problems.append(Problem(str(p), "csv_unknown_file",
                                            f"{name} row {line}: file '{f}' {why} (in {root})"))
            continue
        if not label:
            listing.problems.append(Problem(str(p), "csv_missing_label",
                                            f"{name} row {line}: file '{f}' has no label"))
            seen.setdefault(r, line)
            continue
        if not row[li].strip(" ").isprintable():  # a line break or control character: never trimmed into another class
            listing.problems.append(Problem(str(p), "csv_bad_label",
                                            f"{name} row {line}: the label of '{f}' holds a line break or control "
                                            f"character ({row[li]!r}); the row is not used"))
            seen.setdefault(r, line)
            continue
        if r in seen:
            listing.problems.append(Problem(str(p), "csv_duplicate_row",
                                            f"{name} row {line}: file '{f}' already listed in row {seen[r]}; "
                                            f"this row is ignored"))
            continue
        seen[r] = line
        split = None
        if vi is not None:
            v = row[vi].strip().lower()
            if v not in TRUE and v not in FALSE:
                listing.problems.append(Problem(str(p), "csv_bad_value", f"{name} row {line}: is_valid "
                                                f"'{row[vi]}' is not true/false; used as training", False))
            split = VALID if v in TRUE else TRAIN
        listing.entries.append(Entry(r, label, split))
        listing.class_dirs.setdefault(label, [])
    csv_real = os.path.realpath(csv_path)
    for p in walk_images(root, listing.problems):
        r = rel(root, p)
        if r not in seen and os.path.realpath(p) != csv_real:
            listing.problems.append(Problem(str(p), "csv_missing_label",
                                            f"{r}: image has no row in {name}; it is not used"))
    return listing
