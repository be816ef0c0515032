"""``python -m benchmarks fuzz``: the fuzzer's throughput, per core, and where its time goes.

For each target, one process runs a fixed-seed campaign (`clifkit.fuzz.campaign`, as ``-j 1``)
and reports programs per second per core: programs over the CPU time of this process plus
that of the native worker (and the children it forked to run code), so that the figure does
not depend on how busy the machine's other cores are. The per-stage split is this process's
CPU time by stage (`Harness.run_text` and the batch runner time each) plus the worker's, and
how much of this process's time went to Python's cyclic garbage collector (inside whichever
stage set a collection off).

The floor, side by side: the time Cranelift alone spends compiling the same programs
(`JITModule.define_function` and `finalize_definitions`, timed in this process, host target
only), which no fuzzer built on it can beat.

    python -m benchmarks fuzz                    # host, 300 programs
    python -m benchmarks fuzz --target all --count 100
    python -m benchmarks fuzz --long 20000       # programs/s per 1000 programs over a long run
    python -m benchmarks fuzz --repeat 9         # nine runs, each a fresh process: the medians
    python -m benchmarks fuzz --repeat 10 --against /tmp/base   # alternating with another tree (fuzz_pairs.py)
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

from clifkit.fuzz.campaign import BatchRunner, CampaignConfig
from clifkit.fuzz.cli import attach_dash_values
from clifkit.fuzz.driver import resolve_targets
from clifkit.fuzz.features import (DEFAULT, DEFAULT_FUEL, DEFAULT_OPT_LEVELS, FeatureError, compile_settings,
                                   in_verify_sample, parse_features, parse_opt_levels)

TICK = os.sysconf("SC_CLK_TCK")
BATCH = 25  # programs per batch, as clifkit fuzz makes them


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (field 3, the state, first)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def _worker_pids() -> list[int]:
    """This process's live native workers and their children (each worker's executor, `supervisor.py`)."""
    engine = sys.modules.get("clifkit.native.engine")
    workers = {client.proc.pid for client in getattr(engine, "_CLIENTS", {}).values()
               if client.proc is not None and client.proc.poll() is None}
    found = set(workers)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(_stat(int(entry))[1]) in workers:
                    found.add(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return sorted(found)


def _worker_cpu() -> float:
    """CPU seconds of this process's native workers and their live executors, and of the
    processes they and this process have reaped (workers retired every `RECYCLE_EVERY` programs)."""
    reaped = os.times()
    total = reaped.children_user + reaped.children_system
    for pid in _worker_pids():
        try:
            fields = _stat(pid)
        except OSError:
            continue
        # utime, stime, and, for a worker, what it reaped: cutime, cstime.
        total += sum(int(x) for x in fields[11:15]) / TICK
    return total


def _rss_kb() -> int:
    """Resident memory of this process and its live native workers (with their executors), in KiB."""
    total = 0
    for pid in [os.getpid(), *_worker_pids()]:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def measure(target: str, count: int, seed: int, features: frozenset, verify_every: int = 10, start: int = 0,
            batch: int = 0, opt_levels: tuple = DEFAULT_OPT_LEVELS) -> dict:
    batch = batch or BATCH
    cfg = CampaignConfig(seed, features, "interpreter", "native", (target,), DEFAULT_FUEL, verify_every,
                         opt_levels=opt_levels)
    runner = BatchRunner(cfg)
    runner.run([start], {})  # start the worker, warm the caches (not timed)
    stages: dict = {}
    collecting = [0.0, 0.0]  # CPU seconds in the cyclic collector; when the current collection began

    def collector(phase: str, _info: dict) -> None:
        if phase == "start":
            collecting[1] = time.process_time()
        else:
            collecting[0] += time.process_time() - collecting[1]

    w0, c0, t0 = _worker_cpu(), time.process_time(), time.perf_counter()
    records = []
    gc.callbacks.append(collector)
    try:
        for first in range(start + 1, start + 1 + count, batch):
            records += runner.run(range(first, min(start + 1 + count, first + batch)), stages)
    finally:
        gc.callbacks.remove(collector)
    wall = time.perf_counter() - t0
    main_cpu = time.process_time() - c0
    worker_cpu = _worker_cpu() - w0
    stages["native worker (unpickle, lower or replay, compile, fork, run)"] = worker_cpu
    cpu = main_cpu + worker_cpu
    return {"target": target, "programs": count, "wall": wall, "cpu": cpu, "per_core": count / cpu if cpu else 0.0,
            "stages": stages, "collector": collecting[0], "disagreements": sum(1 for r in records if r["disagreements"])}


def cranelift_floor(count: int, seed: int, features: frozenset, start: int = 1,
                    opt_levels: tuple = DEFAULT_OPT_LEVELS, verify_every: int = 10) -> float:
    """CPU seconds per program Cranelift alone spends compiling (host target), with the settings
    the campaign compiles each program with: its functions, and the trampoline of its %main (one
    per signature, as the worker compiles them)."""
    import cranelift as cl

    from clifkit.fuzz.campaign import program_seed
    from clifkit.fuzz.generator import GenConfig, Generator
    from clifkit.native import lower
    from clifkit.native.faults import host_symbols

    spent = [0.0]
    real = cl.JITModule

    class Timed:
        def __init__(self, isa):
            self._jit = real(isa)

        def __getattr__(self, name):
            attr = getattr(self._jit, name)
            if name not in ("define_function", "finalize_definitions"):
                return attr

            def timed(*a, **k):
                t = time.process_time()
                try:
                    return attr(*a, **k)
                finally:
                    spent[0] += time.process_time() - t
            return timed

    gen = Generator(GenConfig(features=features, opt_levels=opt_levels))
    symbols = host_symbols()
    cl.JITModule = Timed
    try:
        for i in range(start, start + count):
            program = gen.program(program_seed(seed, i))
            flags = dict(compile_settings(program.opt_level, in_verify_sample(i, verify_every)))
            try:
                module = lower.compile_module(program.functions, triple=None, features=flags, host_symbols=symbols)
                module.prepare(["%main"])  # the trampoline the run lines call through, as the worker compiles it
            except Exception:
                pass
    finally:
        cl.JITModule = real
    return spent[0] / count


def long_run(target: str, count: int, seed: int, features: frozenset, verify_every: int = 10,
             step: int = 1000, opt_levels: tuple = DEFAULT_OPT_LEVELS) -> list[tuple]:
    """(programs so far, programs/s per core over the last `step`, resident KiB, CPU seconds, programs) every `step`
    programs; then the rate over the first and over the last 2,000 programs (a long run must not slow down)."""
    cfg = CampaignConfig(seed, features, "interpreter", "native", (target,), DEFAULT_FUEL, verify_every,
                         opt_levels=opt_levels)
    runner = BatchRunner(cfg)
    out = []
    for first in range(0, count, step):
        last = min(count, first + step)  # (the last step may be short)
        w0, c0 = _worker_cpu(), time.process_time()
        for b in range(first, last, BATCH):
            runner.run(range(b, min(last, b + BATCH)), {})
        cpu = time.process_time() - c0 + max(0.0, _worker_cpu() - w0)
        out.append((last, (last - first) / cpu if cpu else 0.0, _rss_kb(), cpu, last - first))
        print(f"  {last:>6} programs: {out[-1][1]:6.1f} programs/s per core, {out[-1][2] / 1024:6.0f} MiB resident",
              flush=True)
    ends = max(1, min(len(out) // 2, 2000 // step))
    head, tail = out[:ends], out[-ends:]
    rate = lambda rows: sum(r[4] for r in rows) / sum(r[3] for r in rows)  # noqa: E731
    print(f"  first {sum(r[4] for r in head)} programs: {rate(head):.1f} programs/s per core; "
          f"last {sum(r[4] for r in tail)}: {rate(tail):.1f}", flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks fuzz", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", default=None, help="x86_64, aarch64, s390x, comma-separated, or all (default: host)")
    p.add_argument("--count", type=int, default=300, help="programs per target (default 300)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--features", default=None, help="feature groups (default: the default mix)")
    p.add_argument("--verify-every", type=int, default=10, metavar="N",
                   help="verify every Nth program, as clifkit fuzz does (default 10; 1: all, as before)")
    p.add_argument("--batch", type=int, default=BATCH, metavar="N",
                   help=f"programs per batch (default {BATCH}; 1: a module and a forked child per program, as before)")
    p.add_argument("--long", type=int, default=0, metavar="N", help="also a long run of N programs (host target)")
    p.add_argument("--opt-level", default=None, metavar="LIST",
                   help="Cranelift opt levels the programs draw from, as clifkit fuzz --opt-level (default "
                        + ",".join(DEFAULT_OPT_LEVELS) + ")")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run the benchmark N times, each in a fresh process, and print the medians (benchmarks/fuzz_pairs.py)")
    p.add_argument("--against", default=None, metavar="TREE",
                   help="with --repeat: alternate the runs with those of another clifkit tree, and print the pairs' ratio")
    argv = attach_dash_values(list(sys.argv[1:] if argv is None else argv))
    opts = p.parse_args(argv)
    # Each figure divides by the count (and --long's by its steps): refuse what would divide by zero,
    # or run a different benchmark than the one asked for, before anything runs.
    for name, least in (("count", 1), ("repeat", 1), ("batch", 1), ("verify_every", 1), ("long", 0)):
        if getattr(opts, name) < least:
            p.error(f"--{name.replace('_', '-')} must be at least {least}, not {getattr(opts, name)}")
    try:
        features = parse_features(opts.features) if opts.features else DEFAULT
        opt_levels = parse_opt_levels(opts.opt_level)
        targets = resolve_targets(opts.target)
    except (FeatureError, ValueError) as e:
        p.error(str(e))
    if opts.repeat > 1 or opts.against:
        return _repeated(p, opts, argv)
    print(f"Python {sys.version.split()[0]}; seed {opts.seed}; {opts.count} programs per target; "
          f"features {opts.features or 'default'}; opt levels {','.join(opt_levels)}; verify every {opts.verify_every}")
    for target in targets:
        r = measure(target, opts.count, opts.seed, features, opts.verify_every, batch=opts.batch, opt_levels=opt_levels)
        ms = 1000.0 / opts.count
        print(f"\n{target}: {r['per_core']:.1f} programs/s per core ({r['cpu'] * ms:.1f} CPU ms per program; "
              f"{opts.count / r['wall']:.1f} programs/s wall; {r['disagreements']} programs disagree)")
        for stage, secs in sorted(r["stages"].items(), key=lambda kv: -kv[1]):
            print(f"  {stage:<50} {secs * ms:7.2f} ms")
        print(f"  {'(of which the cyclic collector, in whichever stage)':<50} {r['collector'] * ms:7.2f} ms")
        from clifkit.native.host import host_arch

        if target == host_arch():
            floor = cranelift_floor(opts.count, opts.seed, features, opt_levels=opt_levels,
                                    verify_every=opts.verify_every)
            print(f"  {'floor: Cranelift alone compiling the same programs':<50} {floor * 1000:7.2f} ms "
                  f"(at most {1 / floor:.0f} programs/s per core)")
    if opts.long:
        print(f"\nlong run, {targets[0]}:")
        long_run(targets[0], opts.long, opts.seed, features, opts.verify_every, opt_levels=opt_levels)
    return 0


def _repeated(p: argparse.ArgumentParser, opts, argv: list[str]) -> int:
    """--repeat / --against: the same options, less those two, run in fresh processes."""
    from pathlib import Path

    from .fuzz_pairs import compare

    if opts.long:
        p.error("--long runs once: leave out --repeat and --against")
    against = Path(opts.against) if opts.against else None
    if against is not None and not (against / "benchmarks" / "fuzz.py").is_file():
        p.error(f"--against {opts.against}: no benchmarks/fuzz.py there (give the root of a clifkit tree)")
    child, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--repeat", "--against"):
            skip = True
        elif not a.startswith(("--repeat=", "--against=")):
            child.append(a)
    print(f"Python {sys.version.split()[0]}; {opts.repeat} runs of: python -m benchmarks fuzz {' '.join(child)}",
          flush=True)
    return compare(child, opts.repeat, against, out=lambda line: print(line, flush=True))


if __name__ == "__main__":
    sys.exit(main())
