"""One large CLIF file of many small functions, through `clifkit test` (``python -m benchmarks.bigfile``).

    python -m benchmarks.bigfile                      # 20,000 functions (about 2.7 MB)
    python -m benchmarks.bigfile --functions 400000   # about 53 MB
    python -m benchmarks.bigfile --mb 50              # as many functions as make about 50 MB
    python -m benchmarks.bigfile --keep big.clif      # keep the generated file

The file is ``test interpret``; each function computes one binary operation
(`iadd`, `isub`, `imul`, `bxor`, `band`, `icmp`-and-`select`) and is followed by
its run line. One function in 1,000 expects a wrong value, so that the run
prints a failure now and then: the time to the first printed line says
whether results stream or come at the end. Reported: the file's size, the
wall time of ``clifkit test -j 1`` and its CPU time (which a loaded machine
changes less), the time to its first line, its peak resident memory (the
process's own, from ``wait4``), and run lines per second.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

_OPS = [
    ("iadd", lambda a, b: (a + b) & 0xFFFFFFFF),
    ("isub", lambda a, b: (a - b) & 0xFFFFFFFF),
    ("imul", lambda a, b: (a * b) & 0xFFFFFFFF),
    ("bxor", lambda a, b: a ^ b),
    ("band", lambda a, b: a & b),
]


def function_text(i: int) -> str:
    """Function number `i` and its run line (a wrong expectation for one in 1,000)."""
    a, b = (i * 7919) % 100_000, (i * 104_729) % 100_000
    wrong = 1 if i % 1000 == 999 else 0
    if i % 6 == 5:
        expected = (a if a > b else b) + wrong
        return (f"function %f{i}(i32, i32) -> i32 {{\n"
                f"block0(v0: i32, v1: i32):\n"
                f"    v2 = icmp ugt v0, v1\n"
                f"    v3 = select v2, v0, v1\n"
                f"    return v3\n"
                f"}}\n"
                f"; run: %f{i}({a}, {b}) == {expected}\n")
    name, op = _OPS[i % 6 if i % 6 < 5 else 0]
    expected = op(a, b) + wrong
    if expected >= 1 << 31:
        expected -= 1 << 32  # run lines write i32 results signed
    return (f"function %f{i}(i32, i32) -> i32 {{\n"
            f"block0(v0: i32, v1: i32):\n"
            f"    v2 = {name} v0, v1\n"
            f"    return v2\n"
            f"}}\n"
            f"; run: %f{i}({a}, {b}) == {expected}\n")


def write_file(path: str, functions: int = 0, megabytes: float = 0.0) -> tuple[int, int]:
    """Write the file (`functions` of them, or enough for `megabytes`); (functions, bytes)."""
    limit = int(megabytes * 1_000_000)
    written = 0
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write("test interpret\n")
        written += 15
        while (functions and n < functions) or (limit and written < limit):
            text = "\n" + function_text(n)
            f.write(text)
            written += len(text)
            n += 1
    return n, written


def measure(path: str, extra: list[str]) -> dict:
    """Run ``clifkit test -j 1 PATH``: wall time, time to the first line, peak RSS, its output."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "clifkit", "test", "-j", "1", "--color", "never", *extra, path],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = None
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        if first is None:
            first = time.perf_counter() - start
        lines.append(line.rstrip("\n"))
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "first_line": first, "peak_rss_mb": usage.ru_maxrss / 1024,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "status": proc.returncode, "lines": lines}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bigfile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--functions", type=int, default=None, help="how many functions (default 20,000)")
    size.add_argument("--mb", type=float, default=None, help="about this many megabytes of CLIF instead")
    parser.add_argument("--keep", metavar="PATH", help="write the file here and keep it")
    opts = parser.parse_args(argv)
    functions = opts.functions if opts.functions is not None else (0 if opts.mb else 20_000)
    directory = None
    if opts.keep:
        path = opts.keep
    else:
        directory = tempfile.TemporaryDirectory(prefix="clifkit-bigfile-")
        path = os.path.join(directory.name, "big.clif")
    try:
        n, size_bytes = write_file(path, functions, opts.mb or 0.0)
        r = measure(path, [])
    finally:
        if directory is not None:
            directory.cleanup()
    expected_failures = n // 1000
    summary = r["lines"][-1] if r["lines"] else ""
    want = f"{n - expected_failures} passed, {expected_failures} failed, 0 skipped"
    print(f"Python {sys.version.split()[0]}; {n:,} functions, {size_bytes / 1e6:.1f} MB")
    print(f"{'wall s':>9} {'CPU s':>9} {'first line s':>13} {'peak RSS MB':>12} {'run lines/s':>12}")
    first = f"{r['first_line']:.2f}" if r["first_line"] is not None else "-"
    print(f"{r['seconds']:>9.2f} {r['cpu_seconds']:>9.2f} {first:>13} {r['peak_rss_mb']:>12.0f} {n / r['seconds']:>12,.0f}")
    if summary != want:
        print(f"unexpected summary: {summary!r} (wanted {want!r})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
