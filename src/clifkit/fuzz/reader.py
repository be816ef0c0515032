"""Reader fuzzing: random and mutated CLIF text through the reader, the verifier and the printer.

The reader's contract is that input can only end one of two ways:

* **parsed**: the text reads as a `TestFile`, which then verifies without
  raising (diagnostics are fine: they are about the program, not a failure of
  the verifier), prints to text that reads again, and that text prints the
  same (the printer is a fixpoint);
* **error**: a `ClifError` whose diagnostics are located (a line within the
  text, a column of at least 1) and format without raising.

Anything else is a bug, classified by where it happened: ``reader-crash`` (any
other exception from the reader, RecursionError and MemoryError included),
``unlocated`` (a ClifError pointing outside the text), ``verifier-crash``,
``printer-crash``, ``reprint-error`` (the printed text does not read again),
``unstable`` (it reads, but prints differently), ``slow`` (one input took
longer than `SLOW_SECONDS`).

Inputs are mutations of a corpus of real CLIF (the project's own
``examples/**/*.clif`` and ``tests/data/*.clif``, or any files given), one to
four at a time: character flips, insertions and deletions, token deletion,
duplication, swaps and replacement by CLIF words, number perturbation toward
boundary values, truncation, line deletion/duplication/swaps, lines spliced
in from another file; and some inputs are random token soup. Everything is
derived from one seed, so a run is reproducible, and input I of seed S is
input I whatever the count.

    clifkit fuzz --reader --count 100000 --seed 1 [--corpus DIR] [--out DIR]

prints inputs per second and the count of each outcome, and writes each
failure (reduced to a small input that fails the same way) to ``--out``.
The test suite runs a short fixed-seed run and a Hypothesis property over
the same `check` (tests/test_reader_fuzz.py).

This module is the campaign loop and its command; the judgement of one text
is `reader_oracle.check`, the inputs come from `reader_inputs`, and failures
are shrunk by the reducer's chunk loop (`reduce_chunks.shrink_text`).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from .reader_inputs import load_corpus, make_input
from .reader_oracle import Outcome, check
from .reduce_chunks import shrink_text

@dataclass
class Finding:
    index: int
    outcome: Outcome
    text: str
    reduced: str = ""


@dataclass
class FuzzStats:
    seed: int
    count: int = 0
    seconds: float = 0.0
    outcomes: dict = field(default_factory=dict)
    findings: list = field(default_factory=list)
    slowest: tuple = (0.0, -1)  # (seconds, input index)
    interrupted: bool = False  # stopped by Ctrl-C: the figures are those of the inputs checked

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items(), key=lambda kv: (-kv[1], kv[0])))
        return (f"{self.count} inputs in {self.seconds:.1f} s ({self.rate:.0f} inputs/s), seed {self.seed}: {counts}; "
                f"slowest input {self.slowest[1]} took {self.slowest[0] * 1000:.0f} ms; "
                f"{len(self.findings)} failure{'s' if len(self.findings) != 1 else ''}")


def fuzz_reader(count: int, seed: int = 0, corpus: Optional[Sequence[str]] = None, out: Optional[str] = None,
                progress: Optional[Callable[[FuzzStats], None]] = None, reduce: bool = True,
                start: int = 0) -> FuzzStats:
    """Check inputs `start` .. `start + count - 1` of run `seed`. Failures are reduced and, with
    `out`, written there as ``<kind>-<seed>-<index>.clif`` (the input) and ``.reduced.clif``."""
    seeds = load_corpus(corpus)
    stats = FuzzStats(seed)
    began = time.perf_counter()
    last_report = began
    limit = sys.getrecursionlimit()
    try:
        for index in range(start, start + count):
            text = make_input(seed, index, seeds)
            outcome = check(text)
            stats.count += 1
            stats.outcomes[outcome.kind] = stats.outcomes.get(outcome.kind, 0) + 1
            if outcome.seconds > stats.slowest[0]:
                stats.slowest = (outcome.seconds, index)
            if not outcome.ok:
                finding = Finding(index, outcome, text)
                stats.findings.append(finding)
                try:
                    if reduce:
                        sig = outcome.signature
                        finding.reduced = shrink_text(text, lambda t: check(t).signature == sig)
                finally:  # (a Ctrl-C while shrinking keeps the finding, unreduced)
                    if out:
                        _write_finding(out, seed, finding)
            now = time.perf_counter()
            if progress is not None and now - last_report > 5.0:
                stats.seconds = now - began
                progress(stats)
                last_report = now
            if sys.getrecursionlimit() != limit:
                sys.setrecursionlimit(limit)
    except KeyboardInterrupt:
        stats.interrupted = True  # the input being checked is not counted
    finally:
        stats.seconds = time.perf_counter() - began
    return stats


def _write_finding(out: str, seed: int, finding: Finding) -> None:
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, f"{finding.outcome.kind}-{seed}-{finding.index}")
    header = f"; clifkit fuzz --reader --seed {seed}: input {finding.index}: {finding.outcome.kind}: {finding.outcome.detail}\n"
    with open(base + ".clif", "w", encoding="utf-8", errors="surrogatepass") as f:
        f.write(finding.text)
    with open(base + ".txt", "w", encoding="utf-8") as f:
        f.write(header)
    if finding.reduced:
        with open(base + ".reduced.clif", "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(finding.reduced)


def _corpus_problem(path: str) -> Optional[str]:
    """Why `path` gives the corpus no text (None when it gives some)."""
    if os.path.isdir(path):
        return None if any(Path(path).rglob("*.clif")) else "no .clif file in it"
    try:
        with open(path, encoding="utf-8") as f:
            f.read()
    except FileNotFoundError:
        return "no such file or directory"
    except UnicodeDecodeError:
        return "cannot read it: not UTF-8 text"
    except OSError as e:
        return f"cannot read it: {e.strerror or e}"
    return None


def run_reader_fuzz(args) -> int:
    """`clifkit fuzz --reader`: exit status 1 when any input failed."""
    count, seed = (args.count if args.count is not None else 100), args.seed
    if count < 0:
        print("clifkit fuzz: error: --count must be >= 0", file=sys.stderr)
        return 2
    corpus = getattr(args, "corpus", None) or None
    for path in corpus or ():
        problem = _corpus_problem(path)
        if problem:
            print(f"clifkit fuzz: error: --corpus {path}: {problem}", file=sys.stderr)
            return 2
    out = getattr(args, "out", None)
    verbose = getattr(args, "verbose", False)

    def progress(stats: FuzzStats) -> None:
        print(f"  {stats.count} inputs, {stats.rate:.0f}/s: "
              + ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items())), file=sys.stderr, flush=True)

    program = getattr(args, "program", None)
    if program is not None:
        count = 1  # --program I: only input I of the seed, as a finding names it
    stats = fuzz_reader(count, seed, corpus, out if out else None, progress if verbose else None,
                        start=program or 0)
    for finding in stats.findings:
        shown = finding.reduced or finding.text
        print(f"input {finding.index}: {finding.outcome.kind}: {finding.outcome.detail}")
        print("  reduced to: " + repr(shown[:400]))
    if stats.interrupted:
        print(f"interrupted (Ctrl-C): the figures below are those of the {stats.count} inputs checked")
    print(stats.summary())
    if stats.findings and out:
        print(f"failing inputs written to {out}/")
    if stats.interrupted:
        return 130
    return 1 if stats.findings else 0
