"""Startup: the imports of `clifkit test` on one small file, without clifkit's bytecode cache.

``python -m benchmarks startup`` (also part of a full ``python -m benchmarks``)
runs ``clifkit test FILE`` under ``python -X importtime`` on a one-function ``test
interpret`` file and sums the import times of the top-level imports (what
`-X importtime` prints at the left margin): what a run of one file pays
before its first run line, as after a fresh checkout. Python's own modules
come from their bytecode (a private ``PYTHONPYCACHEPREFIX`` directory filled
by one untimed run, which writes bytecode even where the caller's environment
sets ``PYTHONDONTWRITEBYTECODE``); clifkit's modules are compiled from source at every
run (their part of that directory is removed before each, and
``PYTHONDONTWRITEBYTECODE`` keeps it empty). Reported: the median and the
least over the runs (the least is the figure with the least load from
other work in it), and the CPU time of the whole run.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

import clifkit

GOAL_MS = 150.0  # issue 16

SMALL_FILE = """test interpret
target x86_64

function %add(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}
; run: %add(1, 2) == 3
"""

_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| (\S)")


def top_level_ms(stderr: str) -> float:
    """The sum of the cumulative times of the imports `-X importtime` prints unindented."""
    return sum(int(m.group(1)) for m in map(_LINE.match, stderr.splitlines()) if m) / 1000


class Startup:
    """The timed command on SMALL_FILE (written into `tmp`) and its environments: `fill` runs it
    once, untimed, writing Python's own bytecode into a private ``PYTHONPYCACHEPREFIX``
    directory; `run` removes clifkit's part of that directory and runs it writing no bytecode,
    so that Python's modules come from their bytecode and clifkit's are compiled from source."""

    def __init__(self, tmp: str):
        package = os.path.dirname(os.path.abspath(clifkit.__file__))
        self.path = os.path.join(tmp, "small.clif")
        with open(self.path, "w") as f:
            f.write(SMALL_FILE)
        self.prefix = os.path.join(tmp, "pycache")
        # The mirror of clifkit's source directory inside the prefix (PYTHONPYCACHEPREFIX keeps the
        # absolute path of each source directory).
        self.ours = os.path.join(self.prefix, os.path.splitdrive(package)[1].lstrip(os.sep))
        # A PYTHONDONTWRITEBYTECODE set in the caller's environment must not reach the fill run,
        # or the standard library would be compiled from source at every timed run as well.
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.fill_env = dict(base, PYTHONPYCACHEPREFIX=self.prefix)
        self.timed_env = dict(self.fill_env, PYTHONDONTWRITEBYTECODE="1")
        # As the `clifkit` script starts it (``python -m`` would add runpy's imports).
        main = "import sys; from clifkit.cli import main; sys.exit(main())"
        self.args = ["-c", main, "test", "--color", "never", self.path]

    def fill(self) -> None:
        subprocess.run([sys.executable, *self.args], env=self.fill_env, capture_output=True, check=True)

    def run(self, flags: tuple[str, ...] = ("-X", "importtime")) -> subprocess.CompletedProcess:
        shutil.rmtree(self.ours, ignore_errors=True)
        done = subprocess.run([sys.executable, *flags, *self.args], env=self.timed_env, capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise SystemExit(f"clifkit test failed on the startup file:\n{done.stdout}{done.stderr}")
        return done


def import_times(runs: int) -> tuple[list[float], list[float]]:
    """Milliseconds of imports of `runs` runs of ``clifkit test`` on SMALL_FILE, and of CPU time
    of each whole run (which load from other work inflates less than wall time)."""
    with tempfile.TemporaryDirectory() as tmp:
        bench = Startup(tmp)
        bench.fill()
        times, cpu = [], []
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            done = bench.run()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(1000 * (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime))
            times.append(top_level_ms(done.stderr))
        return times, cpu


def report(runs: int) -> str:
    times, cpu = import_times(runs)
    median, least = statistics.median(times), min(times)
    verdict = "ok" if median <= GOAL_MS else "MISS"
    return (f"startup: imports of clifkit test on one small file, clifkit compiled from source and Python's "
            f"own modules from bytecode: {median:.0f} ms (median of {runs}; least {least:.0f}), goal <={GOAL_MS:.0f} ms "
            f"(issue 16): {verdict}; CPU time of the whole run {statistics.median(cpu):.0f} ms")


if __name__ == "__main__":
    print(report(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
