"""`clifkit fuzz`: generate programs, run them on the reference and every backend, report.

Program ``i`` of ``--seed S`` is generated from the seed ``S * 2**32 + i``
alone, so ``clifkit fuzz --seed S --program i`` regenerates and reruns it,
whatever ``-j`` or ``--cluster``. Programs run in batches (`campaign.run_batch`)
in-process, in a pool of ``-j N`` processes, or on a Dask cluster; results are
merged in program order, so output, reproducers and statistics are the same
every way. Every disagreement no named rule explains is written under ``--out``
as a self-contained run test; disagreements are bucketed by a signature
(backend, kind, opcodes of the reduced reproducer) and a JSON report is
written (`triage.py`). The last line of output is always
``N programs, N disagreements, N buckets``; the exit status is 1 when there was
any disagreement (or a program the fuzzer itself got wrong), else 0.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Iterator, Optional, TextIO

from ..engine import EngineUnavailable
from .cluster import ClusterLost, ClusterUnavailable
from .campaign import BatchResult, CampaignConfig, program_seed, run_batch
from .engines import native_available
from .features import DEFAULT, DEFAULT_FUEL, DEFAULT_OPT_LEVELS, features_text
from .triage import Triage

__all__ = ["FuzzOptions", "Stats", "fuzz", "program_seed", "resolve_targets"]

TARGETS = ("x86_64", "aarch64", "s390x")


@dataclass
class FuzzOptions:
    seed: int = 0
    count: Optional[int] = 100  # None: until --time runs out
    out: str = "fuzz-out"
    features: frozenset = DEFAULT
    engine_a: str = "interpreter"
    engine_b: str = "native"
    program: Optional[int] = None  # run only this program of the seed
    fuel: int = DEFAULT_FUEL
    reduce: bool = False  # also write a reduced copy of each reproducer
    verbose: bool = False
    keep: bool = False  # write every generated program, not only disagreeing ones
    targets: Optional[list] = None  # backends for the native engine (None: the host)
    jobs: int = 1
    time_limit: Optional[float] = None  # seconds
    cluster: Optional[str] = None  # a Dask scheduler address
    batch: int = 0  # programs per batch (0: chosen from the rest)
    report: Optional[str] = None  # the JSON report's path (default OUT/report.json)
    verify_every: int = 1
    cranelift: str = "current"  # whose rules: "2022" also generates that era's shapes (`clifkit.dialect`)
    opt_levels: tuple = DEFAULT_OPT_LEVELS  # Cranelift opt levels the programs draw from


@dataclass
class Stats:
    programs: int = 0
    lines: int = 0
    disagreements: int = 0  # programs with at least one unexplained disagreement
    errors: int = 0  # programs the fuzzer got wrong (invalid, or failing alike on both engines)
    outcomes: dict = field(default_factory=dict)  # class of the reference outcome -> count
    rules: dict = field(default_factory=dict)  # rule -> runs it explained
    features: dict = field(default_factory=dict)  # feature group -> programs that use it
    opt_levels: dict = field(default_factory=dict)  # Cranelift opt level -> programs the backends compiled so
    skipped: int = 0
    seconds: float = 0.0
    stages: dict = field(default_factory=dict)  # stage -> CPU seconds (all processes that ran batches)

    def count(self, table: dict, key: str, n: int = 1) -> None:
        table[key] = table.get(key, 0) + n


def resolve_targets(spec: Optional[str]) -> list[str]:
    """``x86_64``, ``aarch64,s390x``, ``all``; None: the host's architecture."""
    if spec is None:
        from ..native.host import host_arch

        return [host_arch()]
    names = list(TARGETS) if spec == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    for n in names:
        if n not in TARGETS:
            raise ValueError(f"unknown target '{n}' (known: {', '.join(TARGETS)}, all)")
    if not names:
        raise ValueError("the list names no target")
    return list(dict.fromkeys(names))


def fuzz(opts: FuzzOptions, out: Optional[TextIO] = None, err: Optional[TextIO] = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    names = [opts.engine_a, opts.engine_b]
    for i, name in enumerate(names):
        if name == "native" and not native_available():
            print(f"clifkit fuzz: the native engine is not available; comparing {names[0]} against the interpreter",
                  file=err)
            names[i] = "interpreter"
    targets: tuple = ()
    if names[1] == "native":
        targets = tuple(_runnable_targets(opts.targets or resolve_targets(None), err))
    elif opts.targets:
        print(f"clifkit fuzz: --target {','.join(opts.targets)} ignored: it names the native engine's backends, "
              f"and {names[1]} compiles nothing", file=err)
    # A rerun of one program (as a reproducer names it) is verified and compiled with Cranelift's
    # verifier, as its reproducer is, sampled in the campaign or not.
    verify_every = 1 if opts.program is not None else opts.verify_every
    cfg = CampaignConfig(opts.seed, frozenset(opts.features), names[0], names[1], targets, opts.fuel,
                         verify_every, opts.reduce, opts.keep, opts.cranelift, tuple(opts.opt_levels))
    labels = cfg.labels()
    refs = cfg.columns()[1]
    against = ", ".join(labels[b] for b in sorted(refs))
    reference = " and ".join(label for i, label in enumerate(labels) if i not in refs)  # one per byte order
    if opts.program is not None:
        indices: Iterator[int] = iter([opts.program])
        total: Optional[int] = 1
    else:
        total = opts.count
        indices = iter(range(total)) if total is not None else _naturals()
    what = f"{total} program{'s' if total != 1 else ''}" if total is not None else "programs"
    limit = f" for {opts.time_limit:g} s" if opts.time_limit else ""
    print(f"clifkit fuzz: seed {opts.seed}, {what}{limit}, {reference} vs {against}, "
          f"features {features_text(opts.features)}"
          + (f", opt levels {','.join(opts.opt_levels)}" if targets else ""), file=out)
    out.flush()
    stats = Stats()
    triage = Triage(opts.seed, labels, refs)
    started = time.perf_counter()
    deadline = started + opts.time_limit if opts.time_limit else None
    progress = _Progress(err, total, started)
    interrupted = False
    lost: Optional[ClusterLost] = None
    try:
        try:
            for batch in _batches(cfg, opts, indices, total, deadline):
                for rec in batch.programs:
                    if opts.verbose or rec["disagreements"] or rec["error"]:
                        progress.clear()  # what _merge prints starts a line of its own
                    _merge(rec, stats, triage, opts, out)
                    out.flush()
                    progress.update(stats, triage)
                for stage, secs in batch.seconds.items():
                    stats.stages[stage] = stats.stages.get(stage, 0.0) + secs
                out.flush()
        except KeyboardInterrupt:
            # Ctrl-C is how a long campaign (`--time 2h`) is often ended: what was merged is
            # summarised and reported as for a finished campaign; the batches in flight are dropped.
            interrupted = True
        except ClusterLost as e:  # likewise: the batches still out went with the scheduler
            lost = e
        progress.clear()
        stats.seconds = time.perf_counter() - started
        report = opts.report or os.path.join(opts.out, "report.json")
        if stats.disagreements or stats.errors or opts.report:
            _write_file(report, triage.json(stats, cfg, opts, interrupted or lost is not None))
    except (EngineUnavailable, ClusterUnavailable, OutputError) as e:
        progress.clear()
        print(f"clifkit fuzz: error: {e}", file=err)
        return 2
    if interrupted or lost is not None:
        why = "interrupted (Ctrl-C)" if interrupted else "stopped: the Dask scheduler was lost"
        print(f"{why}: the figures below are those of the {stats.programs} programs that finished", file=out)
    _summary(stats, triage, out)
    if lost is not None:
        print(f"clifkit fuzz: error: {lost}", file=err)
        return 2
    if interrupted:
        return 130
    return 1 if stats.disagreements or stats.errors else 0


def _runnable_targets(targets: list[str], err: TextIO) -> list[str]:
    """The targets whose backend this machine can run (natively or emulated); a notice for the rest."""
    from ..native.host import host_arch

    host = host_arch()
    out = []
    for t in targets:
        if t != host:
            from ..native.emulation import emulation_problem

            problem = emulation_problem(t)
            if problem:
                print(f"clifkit fuzz: {t}: not run: {problem}", file=err)
                continue
        out.append(t)
    if not out:
        out.append(host)
    return out


def _naturals() -> Iterator[int]:
    i = 0
    while True:
        yield i
        i += 1


def _batch_size(opts: FuzzOptions, total: Optional[int], jobs: int) -> int:
    if opts.batch > 0:
        return opts.batch
    if total is None:
        return 8
    # Enough batches to keep every worker busy, small enough that the last ones finish together.
    return max(1, min(25, total // (4 * max(1, jobs)) or 1))


def _chunks(indices: Iterator[int], size: int, deadline: Optional[float]) -> Iterator[list[int]]:
    while deadline is None or time.perf_counter() < deadline:
        chunk = [i for _, i in zip(range(size), indices)]
        if not chunk:
            return
        yield chunk


def _batches(cfg: CampaignConfig, opts: FuzzOptions, indices: Iterator[int], total: Optional[int],
             deadline: Optional[float]) -> Iterator[BatchResult]:
    """Batch results in program order, computed in-process, in a process pool or on a cluster."""
    jobs = max(1, opts.jobs)
    chunks = _chunks(indices, _batch_size(opts, total, jobs), deadline)
    if opts.cluster:
        from .cluster import cluster_batches

        yield from cluster_batches(opts.cluster, cfg, chunks)
        return
    if jobs == 1:
        for chunk in chunks:
            yield run_batch(cfg, chunk)
        return
    yield from _pool_batches(cfg, chunks, jobs)


def _pool_batches(cfg: CampaignConfig, chunks: Iterator[list[int]], jobs: int) -> Iterator[BatchResult]:
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    # Fresh processes (not forks of this one, which may hold native workers), recycled now and
    # then so that no worker grows for the whole campaign.
    ctx = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "forkserver")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, max_tasks_per_child=200) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.submit(run_batch, cfg, chunk))
            # Keep two batches per worker in flight: ordered output without idle workers.
            while len(pending) >= 2 * jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _merge(rec: dict, stats: Stats, triage: Triage, opts: FuzzOptions, out: TextIO) -> None:
    index = rec["index"]
    stats.programs += 1
    stats.lines += rec["lines"]
    stats.skipped += rec["skipped"]
    for f in rec["features"]:
        if f in opts.features:  # an unchosen group's opcodes may appear, guarded (a division is not a trap)
            stats.count(stats.features, f)
    if "opt_level" in rec:
        stats.count(stats.opt_levels, rec["opt_level"])
    for k, v in rec["outcomes"].items():
        stats.count(stats.outcomes, k, v)
    for k, v in rec["rules"].items():
        stats.count(stats.rules, k, v)
    if opts.keep and "text" in rec:
        _write(opts.out, f"seed{opts.seed}-{index:05d}-all.clif", rec["text"])
    err = rec["error"]
    if err is not None:
        stats.errors += 1
        suffix = "invalid" if err["kind"] in ("invalid", "invariant") else "error"
        path = _write(opts.out, f"seed{opts.seed}-{index:05d}-{suffix}.clif", err["text"])
        print(err["message"] if err["kind"] != "invariant" else f"{path}: {err['message']}", file=out)
        if err["kind"] not in ("both-failed", "out-of-fuel"):  # (its other lines are judged still)
            return
    ds = rec["disagreements"]
    if opts.verbose:
        outcomes = ", ".join(f"{n} {k}" for k, n in sorted(rec["outcomes"].items()))
        rules = "".join(f", {n} under rule {k}" for k, n in sorted(rec["rules"].items()))
        print(f"program {index}: {rec['lines']} run lines ({outcomes or 'none run'}{rules}), "
              f"{len(ds)} backend(s) disagree", file=out)
    if not ds:
        return
    stats.disagreements += 1
    several = len(ds) > 1 or len(triage.backends) > 1
    for d in ds:
        name = f"seed{opts.seed}-{index:05d}" + (f"-{d['backend']}" if several else "")
        path = _write(opts.out, name + ".clif", d["reproducer"])
        print(f"{path}: {d['call']}: disagreement: {d['detail']}", file=out)
        reduced_path = None
        if d.get("reduced"):
            reduced_path = _write(opts.out, name + "-reduced.clif", d["reduced"])
            print(f"{reduced_path}: reduced to {d['reduced_instructions']} instructions", file=out)
        elif d.get("reduce_error"):
            print(f"{path}: not reduced: {d['reduce_error']}", file=out)
        triage.add(index, rec["seed"], d, path, reduced_path)


class _Progress:
    """A live progress line on a terminal (nothing when stderr is not one)."""

    def __init__(self, stream: TextIO, total: Optional[int], started: float):
        self.stream = stream
        self.total = total
        self.started = started
        self.live = hasattr(stream, "isatty") and stream.isatty()
        self.shown = False  # a progress line is on the terminal
        self.last = 0.0

    def update(self, stats: Stats, triage: Triage) -> None:
        now = time.perf_counter()
        if not self.live or now - self.last < 0.2:
            return
        self.last = now
        rate = stats.programs / max(now - self.started, 1e-9)
        of = f"/{self.total}" if self.total is not None else ""
        self.stream.write(f"\r{stats.programs}{of} programs, {stats.disagreements} disagreements, "
                          f"{len(triage.buckets)} buckets, {rate:.1f} programs/s\x1b[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def _write(directory: str, name: str, text: str) -> str:
    path = os.path.join(directory, name)
    _write_file(path, text)
    return path


class OutputError(Exception):
    """A reproducer, kept program or report that could not be written."""


def _write_file(path: str, text: str) -> None:
    try:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None


def _summary(stats: Stats, triage: Triage, out: TextIO) -> None:
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items(), key=lambda kv: (-kv[1], kv[0])))
    print(f"run lines: {stats.lines} ({outcomes or 'none'}); skipped by an engine: {stats.skipped}", file=out)
    if stats.features:
        print("features hit (programs): " + ", ".join(f"{k} {v}" for k, v in sorted(stats.features.items())), file=out)
    if stats.opt_levels:
        print("opt levels (programs): " + ", ".join(f"{k} {v}" for k, v in sorted(stats.opt_levels.items())), file=out)
    if stats.rules:
        print("rules applied: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.rules.items())), file=out)
    if stats.errors:
        print(f"programs the fuzzer got wrong: {stats.errors}", file=out)
    for line in triage.summary_lines():
        print(line, file=out)
    rate = stats.programs / stats.seconds if stats.seconds > 0 else 0.0
    print(f"{stats.seconds:.1f} s, {rate:.1f} programs/s", file=out)
    print(f"{stats.programs} programs, {stats.disagreements} disagreements, {len(triage.buckets)} buckets", file=out)
