"""RunControl: thread-safe stop / pause flags checked by long jobs at batch boundaries. No Qt."""
from __future__ import annotations

import multiprocessing
import threading
from typing import Callable


class Cancelled(Exception):
    """Raised inside a job when a stop was requested; unwinds through the cancel hooks."""


class RunControl:
    """Stop / pause flags. ``RunControl()`` serves threads of one process; ``RunControl.for_process()``
    is backed by process-shared events and can be handed to a spawned child process."""

    def __init__(self, _events: tuple | None = None) -> None:
        self._stop, self._running = _events or (threading.Event(), threading.Event())
        self.shared = _events is not None
        self._running.set()

    @classmethod
    def for_process(cls) -> "RunControl":
        ctx = multiprocessing.get_context("spawn")
        return cls((ctx.Event(), ctx.Event()))

    # called from any thread (GUI, signal handler)
    def request_stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused job so it can unwind

    def pause(self) -> None:
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    # called from the job thread
    def check(self, on_pause: Callable[[], None] | None = None,
              on_resume: Callable[[], None] | None = None) -> None:
        """Block while paused (waiting on an Event, no polling); raise Cancelled if stopped."""
        if not self._running.is_set():
            if on_pause:
                on_pause()
            self._running.wait()
            if on_resume and not self._stop.is_set():
                on_resume()
        if self._stop.is_set():
            raise Cancelled("stopped by the user")
