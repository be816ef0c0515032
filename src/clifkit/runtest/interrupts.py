"""Ctrl-C in `clifkit test`: the first SIGINT stops the run; the wrap-up cannot be interrupted.

SIGTERM (what a CI job's timeout or a process manager sends first) is taken as Ctrl-C is: the run
stops and its summary and reports are written, with exit status 143 rather than 130
(`exit_status`), so that a job stopped for taking too long still leaves its JUnit and JSON files.

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

_STATE = {"armed": False, "hit": False, "watching": False, "signum": signal.SIGINT}
# The signals that stop a run: SIGINT (Ctrl-C) and SIGTERM; the first that comes is noted.
STOPPING = (signal.SIGINT, signal.SIGTERM)


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
    _STATE.update(hit=True, signum=signum)
    if _STATE["armed"]:
        raise KeyboardInterrupt


def _raise_on_sigterm(signum, frame) -> None:
    if _STATE["hit"]:
        return
    _STATE.update(hit=True, signum=signum)
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """For a command that stops on Ctrl-C by catching KeyboardInterrupt where it can save its work
    (`clifkit fuzz`): for the duration, SIGTERM raises it too, once (`exit_status` and
    `signal_name` then say which came); what was there is put back after. Nothing changes where
    SIGTERM is not at its default (ignored, or handled by a host program), or off the main thread."""
    try:
        previous = signal.getsignal(signal.SIGTERM)
        if previous is not signal.SIG_DFL:
            previous = None
        else:
            signal.signal(signal.SIGTERM, _raise_on_sigterm)
    except ValueError:
        previous = None
    saved = dict(_STATE)
    _STATE.update(hit=False, signum=signal.SIGINT)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, signal.SIG_IGN if _STATE["hit"] else previous)
        came = _STATE["signum"]
        _STATE.update(saved, signum=came)


def exit_status() -> int:
    """The status of a run stopped by a signal, as a shell reports death by it: 128 + its number
    (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + int(_STATE["signum"])


def signal_name() -> str:
    """What stopped the run, for its last lines: "Ctrl-C" or "SIGTERM"."""
    return "SIGTERM" if _STATE["signum"] == signal.SIGTERM else "Ctrl-C"


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
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, _raise_on_sigterm):
            signal.signal(signal.SIGTERM, _on_sigint)
    except ValueError:  # off the main thread, which alone may set handlers (no threading import)
        return False
    _STATE.update(armed=False, hit=False, watching=True, signum=signal.SIGINT)
    return True


@contextmanager
def watching() -> Iterator[None]:
    """Watch SIGINT for the duration (`clifkit test`), then restore what was there (or, once
    Ctrl-C has come, ignore SIGINT from then on)."""
    previous = {signum: signal.getsignal(signum) for signum in STOPPING}
    saved = dict(_STATE)
    if not install():
        yield
        return
    # Only the handlers `install` put in place are put back (it leaves a SIGTERM handler of a host
    # program's, or SIG_IGN, alone).
    taken = {signum: handler for signum, handler in previous.items() if signal.getsignal(signum) is not handler}
    try:
        yield
    finally:
        # After a real Ctrl-C the process is on its way out with status 130: a later SIGINT (or
        # SIGTERM) must not turn that into death by signal.
        for signum, handler in taken.items():
            signal.signal(signum, signal.SIG_IGN if _STATE["hit"] else handler)
        # Which signal came outlives the watch: a KeyboardInterrupt that leaves it is reported
        # with its status (`cli.main`: 143 after SIGTERM), as after `sigterm_as_interrupt`.
        came = _STATE["signum"]
        _STATE.update(saved, signum=came)


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
