"""The wall and CPU time of a whole process tree: ``python -m benchmarks.tree_cpu COMMAND...``.

For `clifkit test -j 2 --interpret-all CORPUS` (issue 16: the corpus on every
engine and backend under 15 s): the emulated workers are grandchildren of
the `-j` processes and may outlive them, so `time` and a parent's
``RUSAGE_CHILDREN`` can miss their CPU. This process makes itself a child
subreaper (``PR_SET_CHILD_SUBREAPER``), so every orphaned descendant is
reparented to it and waited for here, and reports the CPU of all of them
(user + system), the wall time and the load average at the end. On a shared
machine compare alternating runs (docs/native.md "Results").
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def measure(command: list[str], quiet: bool = True) -> dict:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL if quiet else None)
    code = None
    while True:  # the command, then every descendant it leaves behind
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid == proc.pid:
            code = os.waitstatus_to_exitcode(status)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"exit": code, "wall": time.perf_counter() - started, "user": usage.ru_utime, "system": usage.ru_stime,
            "cpu": usage.ru_utime + usage.ru_stime, "load": os.getloadavg()[0]}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    m = measure(argv)
    print(f"exit {m['exit']}: {m['wall']:.1f} s wall, {m['cpu']:.1f} s CPU ({m['user']:.1f} user, "
          f"{m['system']:.1f} system), load {m['load']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
