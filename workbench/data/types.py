"""Plain data types of the data layer (shared by scanning, the cache, training and the GUI)."""
from __future__ import annotations

from dataclasses import dataclass, field

TRAIN, VALID, TEST = "train", "valid", "test"


@dataclass(frozen=True)
class Item:
    path: str        # absolute path of the image file
    label: int       # index into Dataset.classes
    split: str       # "train" | "valid" | "test"


@dataclass(frozen=True)
class Problem:
    """A file or class that was skipped or needs attention. Files are never moved or deleted."""
    path: str        # file (or class folder) concerned
    kind: str        # zero_byte | not_image | truncated | unreadable | bomb | too_small | empty_class |
                     # single_image_class | duplicate | train_valid_leak | csv_unknown_file | csv_missing_label ...
    message: str     # readable sentence naming the problem
    skipped: bool = True


@dataclass(frozen=True)
class ScanInfo:
    """What open_dataset learned about the files of a Dataset (compute_stats reuses it, no re-decoding)."""
    cache_dir: str = ""
    records: dict = field(default_factory=dict)   # absolute path -> health.FileRecord


@dataclass(frozen=True)
class Dataset:
    root: str
    classes: tuple           # class names, sorted
    items: tuple             # tuple[Item, ...], only usable images
    problems: tuple = ()     # tuple[Problem, ...]
    notes: tuple = ()        # tuple[Problem, ...] with skipped=False: conversions (grayscale, CMYK, EXIF...)
    split_source: str = ""   # "folders" | "csv" | "random"
    layout: str = ""         # "class_folders" | "split_folders" | "csv"
    scan: ScanInfo | None = field(default=None, compare=False, repr=False)  # set by open_dataset

    def split(self, name: str) -> list:
        return [it for it in self.items if it.split == name]

    @property
    def train(self) -> list:
        return self.split(TRAIN)

    @property
    def valid(self) -> list:
        return self.split(VALID)

    def counts(self, split: str | None = None) -> dict:
        out = {c: 0 for c in self.classes}
        for it in self.items:
            if split is None or it.split == split:
                out[self.classes[it.label]] += 1
        return out
