"""How `clifkit test -j N` spends its wall time: ``python -m benchmarks.schedule [TEST ARGS...] PATH``.

Issue 16 asks for the corpus in 15 s on two cores, so the wall time should
be near the CPU time over two. This runs ``clifkit test ARGS`` (default
``-j 2 --interpret-all``; output discarded) in a child that logs every file
(or part of a file, `runtest.lanes`) its `-j` processes run: when it started
and ended, the CPU of the process itself and of its engines' workers (the
emulated ones included: live descendants, and those they reaped). Meanwhile
it samples, every 50 ms, how many processes of the run's tree are runnable
against how many the whole machine has. Printed: per `-j` process, its
files, first start, last end, the time it was running a file (busy) and the
CPU that took; the time before the first file and after each process's last
one (the imbalance); and the two runnable averages. On two cores, a tree
that keeps about two processes runnable has no core idle; if the machine
has more runnable, other work takes some of the cores and the wall time
grows beyond CPU/2 whatever the schedule (compare `benchmarks.tree_cpu`).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile
import time

DEFAULT_ARGS = ["-j", "2", "--interpret-all"]

# Run in the child: log each file part, then `clifkit` as usual.
_CHILD = r"""
import json, os, sys, time
from benchmarks.schedule import tree_cpu
import clifkit.runtest.runner as runner
log, real = sys.argv.pop(1), runner.run_one
def logged(path, problem, options, part=None):
    start, cpu, workers = time.time(), time.process_time(), tree_cpu(os.getpid(), own=False)
    try:
        return real(path, problem, options) if part is None else real(path, problem, options, part)
    finally:
        rec = {"pid": os.getpid(), "start": start, "end": time.time(), "cpu": time.process_time() - cpu,
               "workers": tree_cpu(os.getpid(), own=False) - workers}
        with open(log, "a") as f:
            f.write(json.dumps(rec) + "\n")
runner.run_one = logged
from clifkit.cli import main
sys.argv = ["clifkit", "test"] + sys.argv[1:]
sys.exit(main())
"""


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out += [int(k) for k in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def tree_cpu(pid: int, own: bool = True) -> float:
    """CPU seconds of `pid` (unless not `own`) and its live descendants, with what they reaped."""
    total = 0.0
    try:
        if own:
            fields = _stat(pid)
            total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except OSError:
        pass
    return total + sum(tree_cpu(k) for k in _children(pid))


def _runnable(pid: int) -> int:
    try:
        here = _stat(pid)[0] == "R"
    except OSError:
        return 0
    return here + sum(_runnable(k) for k in _children(pid))


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    args = argv if any(a.startswith("-j") or a == "--jobs" for a in argv) else DEFAULT_ARGS + argv
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "parts.jsonl")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        started = time.time()
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, log, *args], stdout=subprocess.DEVNULL, env=env)
        samples = ours = machine = 0
        while proc.poll() is None:
            ours += _runnable(proc.pid)
            with open("/proc/loadavg") as f:
                machine += int(f.read().split()[3].split("/")[0]) - 1  # less this process
            samples += 1
            time.sleep(0.05)
        wall = time.time() - started
        with open(log) as f:
            parts = [json.loads(line) for line in f]
    by_pid = collections.defaultdict(list)
    for p in parts:
        by_pid[p["pid"]].append(p)
    print(f"clifkit test {' '.join(args)}: exit {proc.returncode}, {wall:.1f} s wall")
    for pid, ps in sorted(by_pid.items(), key=lambda kv: min(p["start"] for p in kv[1])):
        first, last = min(p["start"] for p in ps) - started, max(p["end"] for p in ps) - started
        busy = sum(p["end"] - p["start"] for p in ps)
        print(f"  process {pid}: {len(ps)} files or parts, from {first:.1f} to {last:.1f} s, busy {busy:.1f} s; "
              f"CPU {sum(p['cpu'] for p in ps):.1f} s itself, {sum(p['workers'] for p in ps):.1f} s its workers; "
              f"idle {first + wall - last:.1f} s before its first and after its last")
    if samples:
        print(f"  runnable on average: {ours / samples:.2f} processes of this run, {machine / samples:.2f} on the "
              f"machine ({samples} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
