"""HTTP download of one file with progress, cancel and sha256 check; never leaves a partial file.

The body goes to a temporary file next to the destination (``.<name>.<pid>-<random>.tmp``, see
``workbench.runtime.atomic``: a file left by a killed download is removed by the next one), is hashed
while it streams, and is renamed into place only when complete and (when a prefix is given) its sha256
starts with that prefix. Any failure or a cancel deletes the temporary file. Plain ``urllib`` (it
honours ``https_proxy`` / ``http_proxy``); nothing here runs unless a caller asks for a download.
"""
from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import Failure
from .atomic import atomic_path
from .control import Cancelled, RunControl

CHUNK = 1 << 16


class DownloadError(Failure):
    """A download that failed or delivered the wrong bytes; the message names the URL or file."""


@dataclass(frozen=True)
class DownloadProgress:
    done: int            # bytes received
    total: int           # bytes expected (0 = unknown)
    rate: float          # bytes per second so far
    eta: float           # seconds left (0 when unknown)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: str | os.PathLike, sha256_prefix: str = "",
             progress: Callable[[DownloadProgress], None] | None = None,
             control: RunControl | None = None, timeout: float = 30.0) -> Path:
    """Fetch ``url`` to ``dest`` atomically; raise DownloadError / Cancelled (no file left behind)."""
    dest = Path(dest)
    try:
        with atomic_path(dest) as tmp:
            h = hashlib.sha256()
            t0 = time.monotonic()
            done = 0
            req = urllib.request.Request(url, headers={"User-Agent": "workbench"})
            with open(tmp, "wb") as out, urllib.request.urlopen(req, timeout=timeout) as resp:
                total = int(resp.headers.get("Content-Length") or 0)
                while True:
                    if control is not None:
                        control.check()
                    chunk = resp.read(CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        rate = done / max(time.monotonic() - t0, 1e-6)
                        progress(DownloadProgress(done, total, rate, (total - done) / rate if total else 0.0))
            if total and done != total:
                raise DownloadError(f"{url}: the connection ended after {done} of {total} bytes")
            digest = h.hexdigest()
            if sha256_prefix and not digest.startswith(sha256_prefix):
                raise DownloadError(f"{url}: the downloaded file's sha256 {digest[:12]}... does not start with "
                                    f"{sha256_prefix} (a corrupted or replaced file); nothing was saved")
        return dest
    except (Cancelled, DownloadError):
        raise
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise DownloadError(f"cannot download {url}: {reason}") from e
