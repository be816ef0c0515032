"""The `clifkit fuzz` and `clifkit reduce` command lines (arguments and handlers)."""

from __future__ import annotations

import argparse
import sys

from .features import DEFAULT_FUEL, DEFAULT_OPT_LEVELS, FEATURES, OPT_LEVELS, FeatureError, parse_features, parse_opt_levels


def add_fuzz_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, metavar="N", help="the run's seed (default 0)")
    p.add_argument("--count", type=int, default=None, metavar="M",
                   help="programs to generate (default 100; with --time, unlimited)")
    p.add_argument("--program", type=int, metavar="I", help="run only program I of the seed (as a reproducer names it)")
    p.add_argument("--out", default="fuzz-out", metavar="DIR", help="where reproducers go (default fuzz-out/)")
    p.add_argument(
        "--features",
        metavar="LIST",
        help="feature groups, comma-separated: names, 'all', +name, -name (default all: "
        + ", ".join(FEATURES) + ")",
    )
    p.add_argument("--engine-a", default="interpreter", metavar="ENGINE", help="the reference engine (default interpreter)")
    p.add_argument("--engine-b", default="native", metavar="ENGINE",
                   help="the engine under test (default native; the interpreter when native is absent; "
                        "broken-iadd and broken-fneg are deliberately broken interpreters)")
    p.add_argument("--fuel", type=int, default=DEFAULT_FUEL, metavar="N",
                   help=f"instructions the interpreter may run per run line (default {DEFAULT_FUEL})")
    p.add_argument("--reduce", action="store_true", help="also write a reduced copy of each reproducer")
    p.add_argument("--keep", action="store_true", help="write every generated program to --out")
    p.add_argument("-v", "--verbose", action="store_true", help="print a line per program: its run lines, their outcomes and rules, and disagreements")
    p.add_argument("--target", metavar="LIST",
                   help="backends the native engine runs: x86_64, aarch64, s390x, comma-separated, or all "
                        "(default: the host; emulated ones under QEMU)")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: the cores); program I is the same whatever N")
    p.add_argument("--time", metavar="DURATION", help="stop starting programs after DURATION (90, 30s, 5m, 2h)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run the batches on a Dask distributed scheduler (tcp://host:8786; clifkit[cluster])")
    p.add_argument("--report", metavar="FILE", help="the JSON campaign report (default OUT/report.json when "
                                                    "there is something to report)")
    p.add_argument("--batch", type=int, default=0, metavar="N", help="programs per batch (default: chosen)")
    from ..dialect import DIALECTS

    p.add_argument("--cranelift", default="current", metavar="ERA",
                   help=f"follow the rules of Cranelift of that era: {' or '.join(DIALECTS)} (default current); "
                        "2022 also generates shuffle lanes 32-255 (zero lanes) and tables over a heap "
                        "directive's memory, and verifies and lays out programs by its rules")
    p.add_argument("--opt-level", metavar="LIST",
                   help="Cranelift opt levels the backends compile with, each program drawing one: "
                        + ", ".join(OPT_LEVELS) + ", comma-separated, or all (default "
                        + ",".join(DEFAULT_OPT_LEVELS) + "); a reproducer says its own in a set line")
    p.add_argument("--verify-every", type=int, default=10, metavar="N",
                   help="read back and verify every Nth program (default 10; every reproducer always is); "
                        "the others run from the generator's IR")


# Options whose value may start with '-': a feature edit list (`--features -simd`). argparse takes
# any word starting with '-' for an option of its own, so such a value is attached first
# (`--features=-simd`).
DASH_VALUE_OPTIONS = ("--features",)


def attach_dash_values(argv: list[str]) -> list[str]:
    """`argv` with `--features -simd,+float` written `--features=-simd,+float`."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if argv[i] in DASH_VALUE_OPTIONS and nxt.startswith("-") and not nxt.startswith("--"):
            out.append(f"{argv[i]}={nxt}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def parse_duration(text: str) -> float:
    """``90``, ``30s``, ``5m``, ``2h`` in seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    t = text.strip().lower()
    scale = units.get(t[-1:], None)
    number = t[:-1] if scale else t
    value = float(number) * (scale or 1)
    if value <= 0:
        raise ValueError(text)
    return value


def run_fuzz(args: argparse.Namespace) -> int:
    import os

    from .driver import FuzzOptions, fuzz, resolve_targets

    try:
        features = parse_features(args.features)
        opt_levels = parse_opt_levels(args.opt_level)
    except FeatureError as e:
        print(f"clifkit fuzz: error: {e}", file=sys.stderr)
        return 2
    if (args.count is not None and args.count < 0) or args.fuel < 1 or (args.jobs is not None and args.jobs < 1):
        print("clifkit fuzz: error: --count must be >= 0, --fuel and -j positive", file=sys.stderr)
        return 2
    for option, value, least in (("--program", args.program, 0), ("--batch", args.batch, 0),
                                 ("--verify-every", args.verify_every, 1)):
        if value is not None and value < least:
            print(f"clifkit fuzz: error: {option} must be >= {least}, not {value}", file=sys.stderr)
            return 2
    from .campaign import PROGRAMS_PER_SEED

    for option, value in (("--program", args.program), ("--count", args.count)):
        if value is not None and value >= PROGRAMS_PER_SEED:
            print(f"clifkit fuzz: error: {option} must be below 2^32, not {value} (a seed numbers 2^32 "
                  f"programs; past them are the next seed's)", file=sys.stderr)
            return 2
    try:
        seconds = parse_duration(args.time) if args.time else None
    except ValueError:
        print(f"clifkit fuzz: error: --time: not a duration: '{args.time}' (90, 30s, 5m, 2h)", file=sys.stderr)
        return 2
    try:
        targets = resolve_targets(args.target) if args.target is not None else None
    except ValueError as e:
        print(f"clifkit fuzz: error: --target: {e}", file=sys.stderr)
        return 2
    from ..dialect import DialectError, dialect

    try:
        era = dialect(args.cranelift)
    except DialectError as e:
        print(f"clifkit fuzz: error: --cranelift: {e}", file=sys.stderr)
        return 2
    unknown = _unknown_engine([args.engine_a, args.engine_b])
    if unknown:
        print(f"clifkit fuzz: error: {unknown}", file=sys.stderr)
        return 2
    # Said now, not after a campaign whose reproducers and report would be lost.
    for option, path, folder in (("--out", args.out, True), ("--report", args.report, False)):
        problem = _unwritable_output(path, folder) if path else None
        if problem:
            print(f"clifkit fuzz: error: {option} {path}: {problem}", file=sys.stderr)
            return 2
    count = args.count if args.count is not None else (None if seconds else 100)
    opts = FuzzOptions(seed=args.seed, count=count, out=args.out, features=features, engine_a=args.engine_a,
                       engine_b=args.engine_b, program=args.program, fuel=args.fuel, reduce=args.reduce,
                       verbose=args.verbose, keep=args.keep, targets=targets,
                       jobs=args.jobs or (os.cpu_count() or 1), time_limit=seconds, cluster=args.cluster,
                       batch=args.batch, report=args.report, verify_every=args.verify_every,
                       cranelift=era.name, opt_levels=opt_levels)
    return fuzz(opts)


def add_reduce_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="a failing run test")
    p.add_argument("-o", "--output", metavar="FILE", help="write the reduced test here (default: stdout)")
    p.add_argument("--engine-a", default="interpreter", metavar="ENGINE", help="the reference engine (default interpreter)")
    p.add_argument("--engine-b", default="native", metavar="ENGINE", help="the engine under test (default native)")
    p.add_argument("--expect", action="store_true",
                   help="keep the failure of --engine-a against the run line's own expectation "
                        "(instead of a disagreement between two engines)")
    p.add_argument("--line", type=int, metavar="N", help="the failing run line to keep (default: the first)")
    p.add_argument("--fuel", type=int, default=None, metavar="N", help="instructions the interpreter may run per check")
    p.add_argument("-v", "--verbose", action="store_true", help="report each step on stderr")


def _unwritable(path: str) -> Optional[str]:
    """Why `path` cannot be written as a file (None when it seems it can)."""
    import os

    if os.path.isdir(path):
        return "it is a directory"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"no directory {folder}"
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        return "permission denied"
    return None


def _unknown_engine(names: list[str]) -> Optional[str]:
    """Why one of `names` names no engine (native always does: absent, it is refused or replaced
    with a notice where it is used)."""
    from .engines import engine_names

    for name in (n.partition("@")[0] for n in names):  # (`native@s390x`: an engine for one target)
        if name != "native" and name not in engine_names():
            return f"no engine named '{name}' (known: {', '.join(engine_names())})"
    return None


def _unwritable_output(path: str, folder: bool) -> Optional[str]:
    """Why `clifkit fuzz` could not write `path`, a folder it makes or a file (with the folders
    above it, which it makes too); None when it seems it can."""
    import os

    if os.path.exists(path) and os.path.isdir(path) != folder:
        return "it is not a directory" if folder else "it is a directory"
    above = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(above):
        above = os.path.dirname(above)
    if not os.path.isdir(above):
        return f"{above} is not a directory"
    if not os.access(above, os.W_OK):
        return "permission denied"
    return None


def run_reduce(args: argparse.Namespace) -> int:
    from .engines import native_available
    from .reduce import DEFAULT_FUEL as REDUCE_FUEL, ReduceError, ReduceInterrupted, reduce_file

    mode = "expect" if args.expect else "compare"
    engines = [args.engine_a, args.engine_b]
    unknown = _unknown_engine(engines)
    if unknown:
        print(f"clifkit reduce: error: {unknown}", file=sys.stderr)
        return 2
    if args.fuel is not None and args.fuel < 1:
        print(f"clifkit reduce: error: --fuel must be positive, not {args.fuel}", file=sys.stderr)
        return 2
    unwritable = _unwritable(args.output) if args.output else None
    if unwritable:  # said now, not after a reduction of minutes whose result would be lost
        print(f"clifkit reduce: error: cannot write {args.output}: {unwritable}", file=sys.stderr)
        return 2
    if mode == "compare" and "native" in engines and not native_available():
        print("clifkit reduce: error: the native engine is not available; name another --engine-b, or use --expect",
              file=sys.stderr)
        return 2
    log = sys.stderr if args.verbose else None
    try:
        from ..dialect import calls_followed

        result = reduce_file(args.file, mode, engines, args.fuel or REDUCE_FUEL, args.line, log,
                             args.cranelift, calls_followed(args.cranelift, args.run_calls))
    except ReduceError as e:
        print(f"clifkit reduce: {args.file}: {e}", file=sys.stderr)
        return 1
    except ReduceInterrupted as e:
        result, interrupted = e.partial, True
    else:
        interrupted = False
    text = result.text if result.text.endswith("\n") else result.text + "\n"  # a file ends with a newline
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            print(f"clifkit reduce: error: cannot write {args.output}: {e.strerror or e}", file=sys.stderr)
            sys.stdout.write(text)  # the result is not lost
            return 1
    else:
        sys.stdout.write(text)
    if interrupted:
        from ..runtest import interrupts

        print(f"clifkit reduce: interrupted ({interrupts.signal_name()}): the smallest file found so far, "
              f"{result.original_instructions} -> {result.instructions} instructions ({result.checks} checks): "
              f"{' '.join(result.klass)}", file=sys.stderr)
        return interrupts.exit_status()
    print(f"clifkit reduce: {result.original_instructions} -> {result.instructions} instructions "
          f"({result.checks} checks): {' '.join(result.klass)}", file=sys.stderr)
    return 0
