"""A test hook: make the worker die at random, as a crash would, to test how lost results are told.

Testing only (clifkit's own tests of lost results): ``CLIFKIT_NATIVE_CHAOS=P`` in the worker's
environment makes it die, killed by SIGKILL, before each run request with probability P. In a
module of its own so that the worker's real work carries no trace of it but one call.
"""

from __future__ import annotations

import os
import signal

CHAOS = float(os.environ.get("CLIFKIT_NATIVE_CHAOS") or 0)
WORKER = os.getpid()  # imported by the worker's own process, before it forks any other


def maybe_die() -> None:
    """Where compiled code runs (the executor, or a child of it), before a request: kill the worker
    (and this process) with probability `CHAOS`."""
    if CHAOS > 0:
        import random

        if random.SystemRandom().random() < CHAOS:
            os.kill(WORKER, signal.SIGKILL)
            os._exit(1)
