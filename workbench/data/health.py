"""Health check: fully decode every image (in threads), classify failures, note conversions.

Pillow releases the GIL while decoding and hashlib while hashing, so a thread pool scales with cores.
"""
from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable

from PIL import Image, UnidentifiedImageError

from ..runtime.control import RunControl
from ..runtime.events import Progress

ORIENTATION = 0x0112
SKIP_KINDS = ("zero_byte", "not_image", "truncated", "unreadable", "bomb", "too_small")


def _truncated(e: BaseException) -> str:
    """"image data is truncated", with Pillow's detail once: its "image file is truncated (23 bytes not
    processed)" becomes "image data is truncated (23 bytes not processed)", not the phrase twice."""
    text = str(e).strip()
    if text.lower().startswith("image file is truncated"):
        rest = text[len("image file is truncated"):].strip()
        return f"image data is truncated {rest}".strip()
    return f"image data is truncated ({text})" if text else "image data is truncated"


@dataclass(frozen=True)
class FileRecord:
    """What the health check learned about one file (cached by size + mtime)."""
    size: int
    mtime_ns: int
    kind: str = ""          # "" = usable, else one of SKIP_KINDS
    message: str = ""
    notes: tuple = ()       # conversion notes: grayscale, palette, cmyk, 16bit, alpha, exif_rotation, animated
    width: int = 0          # upright size (after EXIF rotation)
    height: int = 0
    digest: str = ""        # sha1 of the file bytes

    def to_list(self) -> list:
        return [self.size, self.mtime_ns, self.kind, self.message, list(self.notes), self.width,
                self.height, self.digest]

    @classmethod
    def from_list(cls, v: list) -> "FileRecord":
        return cls(int(v[0]), int(v[1]), str(v[2]), str(v[3]), tuple(v[4]), int(v[5]), int(v[6]), str(v[7]))


NOTE_TEXT = {
    "grayscale": "grayscale image, converted to RGB",
    "palette": "palette image, converted to RGB",
    "cmyk": "CMYK image, converted to RGB",
    "16bit": "16-bit image, scaled to 8-bit RGB",
    "32bit": "32-bit integer image, scaled by its value range to 8-bit RGB",
    "float": "floating-point image, scaled by its value range to 8-bit RGB",
    "pillow_warning": "Pillow warned while reading it (e.g. corrupt EXIF data); the image is used",
    "alpha": "has transparency, composited over white",
    "exif_rotation": "EXIF orientation tag, rotated upright",
    "animated": "animated image, only the first frame is used",
    "one_colour": ("almost the whole picture is one colour: a blank image or an 'image not found' placeholder? "
                   "Look at it; it is used for training as it is (quarantine it if it shows nothing)"),
}
ONE_COLOUR_SHARE = 0.93   # share of a picture in its most common colour that makes it "one colour"


def one_colour(im: Image.Image) -> bool:
    """Whether at least ONE_COLOUR_SHARE of the picture (a 64 px copy, colours rounded to 16 levels)
    is a single colour: blank files and the grey "image not found" pictures of photo sites."""
    try:
        small = im.convert("RGB") if im.mode != "RGB" else im.copy()
        small.thumbnail((64, 64))
        q = small.point(lambda v: v // 16 * 16)
        counts = q.getcolors(maxcolors=64 * 64)
    except Exception:  # noqa: BLE001 - a picture that cannot be summarised is simply not noted
        return False
    if not counts:
        return False
    n = small.width * small.height
    return max(c for c, _ in counts) >= ONE_COLOUR_SHARE * n


def mode_notes(im: Image.Image) -> list[str]:
    notes = []
    m = im.mode
    if m in ("1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        notes.append("grayscale")
    if m in ("P", "PA"):
        notes.append("palette")
    if m == "CMYK":
        notes.append("cmyk")
    if m == "F":
        notes.append("float")
    elif m == "I" and _wide_int(im):
        notes.append("32bit")
    elif m.startswith("I;16") or m == "I" or (m in ("RGB", "RGBA") and im.info.get("bits", 8) > 8):
        notes.append("16bit")
    if m in ("RGBA", "LA", "PA", "La", "RGBa") or (m in ("P", "L", "RGB") and "transparency" in im.info):
        notes.append("alpha")
    if getattr(im, "n_frames", 1) > 1:
        notes.append("animated")
    return notes


def _wide_int(im: Image.Image) -> bool:
    """A 32-bit integer image whose values leave the 16-bit range (needs its pixels loaded)."""
    try:
        lo, hi = im.getextrema()
    except Exception:  # noqa: BLE001 - not loaded / not decodable: the decode step reports it
        return False
    return lo < 0 or hi > 65535


_local = threading.local()


def _record_warning(message, category, filename, lineno, file=None, line=None):
    """warnings.showwarning while run_health runs: a warning raised in a health thread becomes a
    note of the file being checked (not a line on stderr); other threads' warnings print as usual."""
    caught = getattr(_local, "caught", None)
    if caught is not None:
        caught.append(str(message))
    else:
        _show_original(message, category, filename, lineno, file, line)


_show_original = warnings.showwarning
CHUNK = 1 << 20


def _sha1_file(fh) -> str:
    """sha1 of an open file, read in 1 MB blocks (a huge file is never held in memory)."""
    fh.seek(0)
    h = hashlib.sha1()
    for block in iter(lambda: fh.read(CHUNK), b""):
        h.update(block)
    return h.hexdigest()


def _fail(st: os.stat_result, kind: str, message: str, digest: str = "", w: int = 0, h: int = 0) -> FileRecord:
    return FileRecord(st.st_size, st.st_mtime_ns, kind, message, (), w, h, digest)


def check_file(path: str, min_side: int, max_pixels: int) -> FileRecord:
    """Read, hash and fully decode one file. Never raises for a bad image; the record says what is wrong.

    Only regular files are read (a pipe named .jpg would block forever). Pillow reads the header from
    the open file first; a file it does not recognise is never read further, and the hash of an
    image is computed block by block."""
    _local.caught = []
    try:
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                return _fail(st, "unreadable", "not a regular file (a pipe, device or socket); only files are images")
            if st.st_size == 0:
                return _fail(st, "zero_byte", "empty file (0 bytes)")
            fh = open(path, "rb")
        except OSError as e:
            return FileRecord(0, 0, "unreadable", f"cannot read the file ({e.strerror or e})")
        with fh:
            rec = _check_open(fh, st, min_side, max_pixels)
        if _local.caught and not rec.kind:
            rec = FileRecord(rec.size, rec.mtime_ns, rec.kind, rec.message, (*rec.notes, "pillow_warning"),
                             rec.width, rec.height, rec.digest)
        return rec
    finally:
        _local.caught = None


def _check_open(fh, st: os.stat_result, min_side: int, max_pixels: int) -> FileRecord:
    try:
        im = Image.open(fh)
    except Image.DecompressionBombError as e:
        return _fail(st, "bomb", f"too many pixels, refused as a decompression bomb ({e})")
    except UnidentifiedImageError:
        return _fail(st, "not_image", "not an image file Pillow can read")
    except OSError as e:
        text = f"{type(e).__name__}: {e}"
        if "truncat" in text.lower():
            return _fail(st, "truncated", _truncated(e))
        return _fail(st, "unreadable", f"cannot open the image ({text})")
    except Exception as e:  # noqa: BLE001 - any decoder error is reported, never raised
        text = f"{type(e).__name__}: {e}"
        if "truncat" in text.lower():
            return _fail(st, "truncated", _truncated(e))
        return _fail(st, "unreadable", f"cannot open the image ({text})")
    try:
        digest = _sha1_file(fh)
        fh.seek(0)
    except OSError as e:
        return _fail(st, "unreadable", f"cannot read the file ({e.strerror or e})")
    with im:
        w, h = im.size
        if w * h > max_pixels:
            return _fail(st, "bomb", f"{w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,} "
                                     f"(data.max_pixels); refused as a possible decompression bomb", digest, w, h)
        try:
            im.load()
        except Image.DecompressionBombError as e:
            return _fail(st, "bomb", f"refused as a decompression bomb ({e})", digest, w, h)
        except OSError as e:
            text = str(e)
            if "truncat" in text.lower():
                return _fail(st, "truncated", _truncated(e), digest, w, h)
            return _fail(st, "unreadable", f"cannot decode the image ({text})", digest, w, h)
        except Exception as e:  # noqa: BLE001
            text = f"{type(e).__name__}: {e}"
            kind = "truncated" if "truncat" in text.lower() else "unreadable"
            return _fail(st, kind, f"cannot decode the image ({text})", digest, w, h)
        notes = mode_notes(im)
        if one_colour(im):
            notes.append("one_colour")
        try:
            orientation = im.getexif().get(ORIENTATION, 1)
        except Exception:  # noqa: BLE001 - a broken EXIF block is not fatal
            orientation = 1
        if orientation in (2, 3, 4, 5, 6, 7, 8):
            notes.append("exif_rotation")
            if orientation >= 5:
                w, h = h, w
    if min(w, h) < min_side:
        return FileRecord(st.st_size, st.st_mtime_ns, "too_small", f"{w}x{h} is smaller than the minimum "
                          f"side of {min_side} px (data.min_side)", tuple(notes), w, h, digest)
    return FileRecord(st.st_size, st.st_mtime_ns, "", "", tuple(notes), w, h, digest)


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def run_health(todo: list[tuple[str, str]], records: dict, min_side: int, max_pixels: int,
               sink: Callable | None = None, control: RunControl | None = None,
               workers: int | None = None) -> None:
    """Check each (key, absolute path) of ``todo`` and store its FileRecord in ``records[key]``.

    Results are stored as they arrive, so a cancel (RunControl stop -> Cancelled) keeps finished work."""
    total = len(todo)
    if sink:
        sink(Progress("health", 0, total, "checking images"))
    if not total:
        return
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow warns above and refuses above twice this
    done, last = 0, 0.0
    pool = ThreadPoolExecutor(max_workers=workers or default_workers(), thread_name_prefix="health")
    quiet = warnings.catch_warnings()
    quiet.__enter__()
    warnings.simplefilter("always", UserWarning)  # every file's warnings (not once per place) ...
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # check_file reports these as "bomb"
    warnings.showwarning = _record_warning  # ... go to that file's record (restored by catch_warnings)
    try:
        it = iter(todo)
        pending: dict = {}
        window = 4 * (workers or default_workers())
        while True:
            while len(pending) < window:
                nxt = next(it, None)
                if nxt is None:
                    break
                pending[pool.submit(check_file, nxt[1], min_side, max_pixels)] = nxt[0]
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                records[pending.pop(fut)] = fut.result()
                done += 1
            if control is not None:
                control.check()
            now = time.monotonic()
            if sink and (now - last > 0.1 or done == total):
                last = now
                sink(Progress("health", done, total, f"checked {done} of {total} images"))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        Image.MAX_IMAGE_PIXELS = old_limit
        quiet.__exit__(None, None, None)


def one_colour_file(path: str) -> bool:
    """``one_colour`` of an image file; False when it cannot be read (its reader says why elsewhere)."""
    try:
        with Image.open(path) as im:
            im.draft("RGB", (128, 128))   # a JPEG decodes at a fraction of its size: the check uses 64 px
            return one_colour(im)
    except Exception:  # noqa: BLE001 - an unreadable file is reported by the prediction, not here
        return False
