"""``python -m benchmarks``: see the package docstring."""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from clifkit.interpreter import Interpreter
from clifkit.interpreter.heaps import materialize
from clifkit.reader import parse_text
from clifkit.environment.layout import build_environment

from .programs import BENCHMARKS, Benchmark


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = time.process_time


def _median_times(a, b, runs: int) -> tuple[float, float]:
    """Median times of the thunks `a` and `b`, run alternately (so that load on the
    machine affects both alike), on `clock`: by default this process's CPU time, which
    time spent waiting for a core on a shared machine does not inflate."""
    ta, tb = [], []
    for _ in range(runs):
        for thunk, times in ((a, ta), (b, tb)):
            start = clock()
            thunk()
            times.append(clock() - start)
    return statistics.median(ta), statistics.median(tb)


def _scaled(args, quick: bool):
    return [a // 10 if quick and isinstance(a, int) and a >= 1000 else a for a in args]


def run(bench: Benchmark, runs: int, quick: bool, native=None) -> dict:
    details = parse_text(bench.clif).functions
    interp = Interpreter([d.function for d in details])
    args, py_args = _scaled(bench.args, quick), _scaled(bench.python_args, quick)
    env = None
    if bench.heap:
        env = materialize(build_environment(details[0]))
        args = [env.vmctx, *args]
    interp.compile(bench.entry)
    # One untimed run each: check the results agree and warm up.
    got = interp.call(bench.entry, args, env=env)
    want = [bench.to_bits(bench.python(*py_args))]
    if got != want:
        raise SystemExit(f"{bench.name}: the interpreter returned {got}, plain Python {want}")
    executed = interp.executed
    t_clif, t_py = _median_times(lambda: interp.call(bench.entry, args, env=env), lambda: bench.python(*py_args),
                                 runs)
    t_native = native.run(bench, args, runs, want) if native is not None else None
    return {
        "native_seconds": t_native,
        "name": bench.name,
        "description": bench.description,
        "instructions": executed,
        "clif_seconds": t_clif,
        "python_seconds": t_py,
        "instructions_per_second": executed / t_clif,
        "ratio": t_clif / t_py,
    }


def _goal(ratio: float, goal: float) -> str:
    if not goal:
        return ""
    return f"<={goal:.2f}x {'ok' if ratio <= goal else 'MISS'}"


def differential(pairs: int) -> int:
    """The float fast path against softfloat, `pairs` operand pairs per operation and type."""
    from clifkit.interpreter import float_differential as fd

    print(f"float fast path vs softfloat, {pairs:,} operand pairs per operation and type")
    failed = 0
    for op in fd.OPS:
        for bits in fd.types_of(op):
            start = time.perf_counter()
            bad = fd.check(op, bits, pairs)
            failed += bool(bad)
            print(f"  {op:<9} f{bits}  {'identical' if not bad else 'DIFFERS'}  {time.perf_counter() - start:6.1f} s")
            for line in bad:
                print(f"    {line}")
    return 1 if failed else 0


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["fuzz"]:
        from .fuzz import main as fuzz_main

        return fuzz_main(args[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all, and `startup`)")
    parser.add_argument("-n", "--runs", type=int, default=5, help="timed runs per program (the median is reported)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the iterations")
    parser.add_argument("--native", action="store_true",
                        help="also compile each program with Cranelift and time it natively (needs cranelift-py)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="time the runs by this process's CPU time (the default: waiting for a core "
                             "on a loaded machine does not count) or by wall-clock time")
    parser.add_argument("--markdown", action="store_true",
                        help="also print the results as the README's speed table")
    parser.add_argument("--differential", nargs="?", type=int, const=10**6, metavar="PAIRS",
                        help="instead, check the float fast path bit for bit against softfloat "
                             "(default 10^6 operand pairs per operation and type)")
    opts = parser.parse_args(args)
    global clock
    clock = CLOCKS[opts.clock]
    if opts.differential:
        return differential(opts.differential)
    chosen = [b for b in BENCHMARKS if not opts.names or b.name in opts.names]
    startup = not opts.names or "startup" in opts.names
    unknown = set(opts.names) - {b.name for b in BENCHMARKS} - {"startup"}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from "
                     f"{', '.join(b.name for b in BENCHMARKS)}")
    native = None
    if opts.native:
        from .native import NativeBench

        native = NativeBench()
        if native.missing:
            parser.error(native.missing)
    print(f"Python {sys.version.split()[0]}, median of {opts.runs} runs, {opts.clock} time")
    head = (f"{'benchmark':<12} {'CLIF insts':>11} {'interp s':>9} {'python s':>9} {'M insts/s':>10} {'ratio':>6}"
            f" {'goal':>10}")
    if native is not None:
        head += f" {'native s':>10} {'native M/s':>11} {'interp/native':>13}"
    print(head)
    differs = False
    rows = []
    try:
        for bench in chosen:
            r = run(bench, opts.runs, opts.quick, native)
            rows.append((bench, r))
            line = (f"{r['name']:<12} {r['instructions']:>11,} {r['clif_seconds']:>9.4f} {r['python_seconds']:>9.4f} "
                    f"{r['instructions_per_second'] / 1e6:>10.1f} {r['ratio']:>5.2f}x "
                    f"{_goal(r['ratio'], bench.goal):>10}")
            if r["native_seconds"] is not None:
                t_native, same = r["native_seconds"]
                line += (f" {t_native:>10.6f} {r['instructions'] / t_native / 1e6:>11.1f} "
                         f"{r['clif_seconds'] / t_native:>12.0f}x{' ' if same else '*'}")
                differs = differs or not same
            print(f"{line}   {r['description']}")
        if differs:
            print("* the native result differs from the interpreter's: the program reads stack slots before "
                  "writing them, which CLIF leaves uninitialised (the interpreter zeroes them)")
    finally:
        if native is not None:
            native.close()
    if startup:
        from .startup import report

        print(report(opts.runs))
    if opts.markdown:
        print()
        print(markdown(rows))
    return 0


def markdown(rows) -> str:
    """The README's speed table, from the results of `run`."""
    lines = ["| benchmark | CLIF instructions | interpreter M insts/s | interpreter vs plain Python | goal |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for bench, r in rows:
        goal = f"{bench.goal:.2f}x" if bench.goal else ""
        lines.append(f"| {bench.name}: {bench.description} | {r['instructions']:,} | "
                     f"{r['instructions_per_second'] / 1e6:.1f} | {r['ratio']:.2f}x | {goal} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
