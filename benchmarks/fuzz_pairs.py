"""``python -m benchmarks fuzz --repeat N [--against TREE]``: the fuzz benchmark, run N times.

This machine's speed moves by up to 40% from one minute to the next, so a single run of the
benchmark says little, and a run of one tree after a run of another says less. Here every run
is a fresh process (``python -m benchmarks fuzz`` with the same options, its text output read
back), and with ``--against TREE`` the runs alternate between this tree and TREE (another
clifkit checkout, say ``git archive REV | tar -x -C /tmp/base``), so that a slow minute falls on
both alike. Printed: each run's programs/s per core and Cranelift's floor, the median per
tree, the median CPU ms per stage, and, with TREE, the median of the pairs' ratios and how
many pairs went the other way.

Only the printed text is read, so TREE may be any revision whose benchmark prints the same
lines (this tree's own format since the fuzz benchmark began).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # this tree's root (benchmarks/ and src/ under it)
_RATE = re.compile(r"^(\S+): ([\d.]+) programs/s per core \(([\d.]+) CPU ms per program")
_STAGE = re.compile(r"^  (.+?)\s+([\d.]+) ms")
_FLOOR = "floor: Cranelift alone"


class RunFailed(Exception):
    pass


def parse_output(text: str) -> dict:
    """{"rate", "ms", "floor", "stages"} of the first target in one benchmark run's output."""
    run: dict = {"stages": {}, "floor": None}
    for line in text.splitlines():
        found = _RATE.match(line)
        if found:
            if "rate" in run:
                break  # (a second target: only the first is compared)
            run["rate"], run["ms"] = float(found.group(2)), float(found.group(3))
            continue
        found = _STAGE.match(line)
        if found and "rate" in run:
            name, ms = found.group(1), float(found.group(2))
            if name.startswith(_FLOOR):
                run["floor"] = ms
            elif not name.startswith("("):
                run["stages"][name] = ms
    if "rate" not in run:
        raise RunFailed("no 'programs/s per core' line in its output")
    return run


def run_once(tree: Path, args: list[str]) -> dict:
    """One benchmark run of `tree`'s code in a fresh process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree / "src"), str(tree)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "fuzz", *args], cwd=tree, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RunFailed(f"exit {proc.returncode}: {' / '.join(tail)}")
    return parse_output(proc.stdout)


def _median_stages(runs: list[dict]) -> dict:
    names = [n for n in runs[0]["stages"]]
    return {n: statistics.median(r["stages"].get(n, 0.0) for r in runs) for n in names}


def compare(args: list[str], repeat: int, against: Path | None, out=print) -> int:
    """Run the benchmark `repeat` times (alternating with `against`'s when given) and print the medians."""
    trees = [("this tree", HERE)] + ([("against", against.resolve())] if against else [])
    for label, tree in trees:
        out(f"{label}: {tree}")
    runs: dict[str, list[dict]] = {label: [] for label, _ in trees}
    for k in range(repeat):
        order = trees if k % 2 == 0 else trees[::-1]  # (who goes first alternates too)
        row = []
        for label, tree in order:
            try:
                r = run_once(tree, args)
            except RunFailed as e:
                out(f"error: the benchmark of {label} ({tree}) failed: {e}")
                return 1
            runs[label].append(r)
            floor = f", floor {r['floor']:.2f} ms" if r["floor"] is not None else ""
            row.append(f"{label} {r['rate']:6.1f}{floor}")
        out(f"  run {k + 1}: " + "; ".join(row))
    out("")
    for label, _ in trees:
        rates = [r["rate"] for r in runs[label]]
        out(f"{label}: median {statistics.median(rates):.1f} programs/s per core over {len(rates)} runs "
            f"(lowest {min(rates):.1f}, highest {max(rates):.1f}; {sum(x >= 100 for x in rates)} of {len(rates)} at 100 or more)")
    if against:
        ratios = [a["rate"] / b["rate"] for a, b in zip(runs["this tree"], runs["against"])]
        out(f"ratio this tree / against: median {statistics.median(ratios):.3f} over {len(ratios)} pairs "
            f"({sum(x < 1 for x in ratios)} went the other way)")
    out("\nmedian CPU ms per program, by stage:")
    medians = {label: _median_stages(runs[label]) for label, _ in trees}
    head = "".join(f"{label:>12}" for label, _ in trees)
    out(f"  {'stage':<62}{head}")
    for name in medians["this tree"]:
        cells = "".join(f"{medians[label].get(name, 0.0):12.2f}" for label, _ in trees)
        out(f"  {name:<62}{cells}")
    totals = "".join(f"{statistics.median(r['ms'] for r in runs[label]):12.2f}" for label, _ in trees)
    out(f"  {'total':<62}{totals}")
    return 0
