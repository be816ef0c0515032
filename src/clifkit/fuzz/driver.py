"""`clifkit fuzz`: generate programs, run them on two engines, report disagreements.

Program ``i`` of ``--seed S`` is generated from the seed ``S * 2**32 + i``
alone, so ``clifkit fuzz --seed S --program i`` regenerates and reruns it.
Every disagreement no named rule explains is written under ``--out`` as a
self-contained run test (the program, its heap directives, and the
disagreeing run lines with the reference engine's result) that
``clifkit test --compare`` reproduces. The last line of output is always
``N programs, N disagreements``; the exit status is 1 when there was any
disagreement (or a program the fuzzer itself got wrong), else 0.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Optional, TextIO

from ..runtest.engines import EngineOptions, EngineUnavailable
from .compare import Harness, InvalidProgram, LineResult
from .engines import native_available
from .features import DEFAULT, DEFAULT_FUEL, features_hit, features_text
from .gen_program import Program
from .generator import GenConfig, Generator



def program_seed(seed: int, index: int) -> int:
    return seed * (1 << 32) + index


@dataclass
class FuzzOptions:
    seed: int = 0
    count: int = 100
    out: str = "fuzz-out"
    features: frozenset = DEFAULT
    engine_a: str = "interpreter"
    engine_b: str = "native"
    program: Optional[int] = None  # run only this program of the seed
    fuel: int = DEFAULT_FUEL
    reduce: bool = False  # also write a reduced copy of each reproducer
    verbose: bool = False
    keep: bool = False  # write every program, not only disagreeing ones


@dataclass
class Stats:
    programs: int = 0
    lines: int = 0
    disagreements: int = 0  # programs with at least one unexplained disagreement
    errors: int = 0  # programs the fuzzer got wrong (invalid, or failing alike on both engines)
    outcomes: dict = field(default_factory=dict)  # class of the reference outcome -> count
    rules: dict = field(default_factory=dict)  # rule -> runs it explained
    features: dict = field(default_factory=dict)  # feature group -> programs that use it
    skipped: int = 0
    seconds: float = 0.0

    def count(self, table: dict, key: str) -> None:
        table[key] = table.get(key, 0) + 1


def reproducer(program: Program, index: int, opts: FuzzOptions, names: list[str], lines: list[LineResult],
               bad: list[int]) -> str:
    """The program as a run test with the disagreeing run lines, expecting the reference's results."""
    header = [
        f"clifkit fuzz --seed {opts.seed} --program {index} --features {features_text(opts.features)}"
        f" --engine-a {names[0]} --engine-b {names[1]}",
        f"generator seed {program.seed}; program features: {features_text(program.features)}",
    ]
    expectations = []
    keep = []
    for i in bad:
        r = lines[i]
        a, b = r.outcomes
        header.append(f"{r.call}: {names[0]}: {a.describe(r.return_types)}; {names[1]}: {b.describe(r.return_types)}")
        expectation = a.expectation(r.return_types) or b.expectation(r.return_types)
        keep.append(i)
        expectations.append(expectation)
    sub = Program(program.seed, program.functions, program.heaps, [program.runs[i] for i in keep], program.target,
                  program.features)
    return sub.text(expectations, header="\n".join(header))


def fuzz(opts: FuzzOptions, out: Optional[TextIO] = None, err: Optional[TextIO] = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    names = [opts.engine_a, opts.engine_b]
    for i, name in enumerate(names):
        if name == "native" and not native_available():
            print(f"clifkit fuzz: the native engine is not available; comparing {names[0]} against the interpreter",
                  file=err)
            names[i] = "interpreter"
    try:
        harness = Harness(names, EngineOptions(fuel=opts.fuel))
    except EngineUnavailable as e:
        print(f"clifkit fuzz: error: {e}", file=err)
        return 2
    gen = Generator(GenConfig(features=opts.features))
    indices = [opts.program] if opts.program is not None else list(range(opts.count))
    print(f"clifkit fuzz: seed {opts.seed}, {len(indices)} program{'s' if len(indices) != 1 else ''}, "
          f"{names[0]} vs {names[1]}, features {features_text(opts.features)}", file=out)
    out.flush()
    stats = Stats()
    started = time.perf_counter()
    for index in indices:
        program = gen.program(program_seed(opts.seed, index))
        text = program.text()
        stats.programs += 1
        for feature in features_hit(program.functions, [h.style for h in program.heaps]):
            stats.count(stats.features, feature)
        where = f"program {index} (generator seed {program.seed})"
        if opts.keep:
            _write(opts.out, f"seed{opts.seed}-{index:05d}-all.clif", text)
        try:
            lines = harness.run_text(text, f"<{where}>")
        except InvalidProgram as e:
            stats.errors += 1
            print(f"{where}: the generator made an invalid program (a clifkit fuzz bug):\n{e}", file=out)
            _write(opts.out, f"seed{opts.seed}-{index:05d}-invalid.clif", text)
            continue
        except EngineUnavailable as e:
            print(f"clifkit fuzz: error: {e}", file=err)
            return 2
        bad: list[int] = []
        errors: list[int] = []
        for i, r in enumerate(lines):
            stats.lines += 1
            stats.count(stats.outcomes, r.outcomes[0].klass)
            v = r.verdict(names)
            for rule in v.rules:
                stats.count(stats.rules, rule)
            if v.status == "skipped":
                stats.skipped += 1
            elif v.status == "disagree":
                bad.append(i)
            elif v.status in ("error", "outside-guarantee"):
                errors.append(i)
            if opts.verbose:
                print(f"{where}: {r.call}: {v.status}" + (f" ({v.detail})" if v.detail else ""), file=out)
        if errors:
            stats.errors += 1
            r = lines[errors[0]]
            v = r.verdict(names)
            why = v.detail if v.status == "outside-guarantee" else f"both engines failed: {r.outcomes[0].message}"
            print(f"{where}: {r.call}: {why}", file=out)
            _write(opts.out, f"seed{opts.seed}-{index:05d}-error.clif", text)
        if bad:
            broken = _invariant_violations(text)
            if broken:
                # The generator broke one of its own rules: its fault, whatever the engines did.
                stats.errors += 1
                path = _write(opts.out, f"seed{opts.seed}-{index:05d}-invalid.clif", text)
                print(f"{path}: the generator broke a rule (a clifkit fuzz bug): {broken[0]}", file=out)
                continue
            stats.disagreements += 1
            name = f"seed{opts.seed}-{index:05d}.clif"
            path = _write(opts.out, name, reproducer(program, index, opts, names, lines, bad))
            r = lines[bad[0]]
            print(f"{path}: {r.call}: disagreement: {r.verdict(names).detail}", file=out)
            if opts.reduce:
                _reduce_into(path, names, opts, out)
        out.flush()
    stats.seconds = time.perf_counter() - started
    _summary(stats, out)
    return 1 if stats.disagreements or stats.errors else 0


def _invariant_violations(text: str) -> list[str]:
    from ..reader import parse_text
    from .invariants import nan_leaks, wide_load_hazards

    tf = parse_text(text)
    return nan_leaks(tf) + wide_load_hazards(tf)


def _reduce_into(path: str, names: list[str], opts: FuzzOptions, out: TextIO) -> None:
    from .reduce import ReduceError, reduce_file

    reduced_path = path[: -len(".clif")] + "-reduced.clif"
    try:
        result = reduce_file(path, mode="compare", engines=names, fuel=opts.fuel)
    except ReduceError as e:
        print(f"{path}: not reduced: {e}", file=out)
        return
    with open(reduced_path, "w", encoding="utf-8") as f:
        f.write(result.text)
    print(f"{reduced_path}: reduced to {result.instructions} instructions ({result.checks} checks)", file=out)


def _write(directory: str, name: str, text: str) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def _summary(stats: Stats, out: TextIO) -> None:
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items(), key=lambda kv: (-kv[1], kv[0])))
    print(f"run lines: {stats.lines} ({outcomes or 'none'}); skipped by an engine: {stats.skipped}", file=out)
    if stats.features:
        print("features hit (programs): " + ", ".join(f"{k} {v}" for k, v in sorted(stats.features.items())), file=out)
    if stats.rules:
        print("rules applied: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.rules.items())), file=out)
    if stats.errors:
        print(f"programs the fuzzer got wrong: {stats.errors}", file=out)
    rate = stats.programs / stats.seconds if stats.seconds > 0 else 0.0
    print(f"{stats.seconds:.1f} s, {rate:.1f} programs/s", file=out)
    print(f"{stats.programs} programs, {stats.disagreements} disagreements", file=out)
