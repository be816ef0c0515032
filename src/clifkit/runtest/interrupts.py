"""Ctrl-C in `clifkit test`: the first SIGINT stops the run; the wrap-up cannot be interrupted.

A SIGINT may come more than once (`timeout -s INT` sends it to the process and then to its group;
people press Ctrl-C twice), and Python raises KeyboardInterrupt wherever the main thread happens to
be. Raised while a finished file's result is being handed on, or while the files in flight are
being collected, it would lose results. So while `watching`, a SIGINT is only *noted*, except in
`armed` sections, where it raises at once (to stop a run line, or to wake a wait): the code that
arms knows how to save what it was doing. Only the first SIGINT counts; the later ones are ignored.
Outside `watching` (the Python API, pytest) SIGINT behaves as usual.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Iterator

_STATE = {"armed": False, "hit": False, "watching": False}


class Interrupted(KeyboardInterrupt):
    """Ctrl-C on its way out of the harness, with what was done when it came, so that the reports
    still hold it: `partial`, the settled result of the file in flight (`runner.run_file`), and
    `partial_results`, the (index, result) pairs the pool's workers sent back (`parallel`)."""

    def __init__(self, partial=None, partial_results=None):
        super().__init__()
        self.partial = partial
        self.partial_results = partial_results


def _on_sigint(signum, frame) -> None:
    if _STATE["hit"]:
        return  # the run is already stopping: a second Ctrl-C must not cut its wrap-up short
    _STATE["hit"] = True
    if _STATE["armed"]:
        raise KeyboardInterrupt


def interrupted() -> bool:
    """Whether Ctrl-C has come (while watching)."""
    return _STATE["hit"]


def install() -> bool:
    """Watch SIGINT in this process from now on (a worker process); True if the handler is in place.
    Does nothing off the main thread, or when SIGINT is ignored (a background job)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return False
    try:
        signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:  # off the main thread, which alone may set handlers (no threading import)
        return False
    _STATE.update(armed=False, hit=False, watching=True)
    return True


@contextmanager
def watching() -> Iterator[None]:
    """Watch SIGINT for the duration (`clifkit test`), then restore what was there (or, once
    Ctrl-C has come, ignore SIGINT from then on)."""
    previous = signal.getsignal(signal.SIGINT)
    saved = dict(_STATE)
    if not install():
        yield
        return
    try:
        yield
    finally:
        # After a real Ctrl-C the process is on its way out with status 130: a later SIGINT must
        # not turn that into death by signal.
        signal.signal(signal.SIGINT, signal.SIG_IGN if _STATE["hit"] else previous)
        _STATE.update(saved)


@contextmanager
def armed() -> Iterator[None]:
    """A section that Ctrl-C may stop at any point with KeyboardInterrupt (at once if it has
    already come). Unarmed again on the way out, so that once the section is left no SIGINT raises."""
    if not _STATE["watching"]:
        yield
        return
    _STATE["armed"] = True
    try:
        if _STATE["hit"]:
            raise KeyboardInterrupt
        yield
    finally:
        _STATE["armed"] = False
