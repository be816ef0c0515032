"""One batch of a fuzzing campaign: generate programs, run them on every column, judge them.

`run_batch(config, indices)` is a plain function of picklable arguments returning plain data,
so that the same code runs in-process, in a local process pool (`-j N`) and on a Dask
distributed worker (`--cluster`). It writes nothing: the driver merges batch results in
program order and writes reproducers, so output never depends on which worker ran what.

Columns: the reference engine once per byte order of the chosen targets (the interpreter runs
in the target's byte order: `Harness` opens it for that target), and the engine under test once
per target (``native@aarch64`` runs under QEMU in the same workers as `clifkit test`). Every
backend column is judged against the reference of its byte order; any difference is a
disagreement naming the backend.
"""

from __future__ import annotations

import dataclasses
import gc
import re
import time
from dataclasses import dataclass, field
from typing import Optional

from ..dialect import CURRENT, dialect
from ..ir.function import ExternalName
from ..engine import EngineOptions, EngineUnavailable
from .compare import Harness, InvalidProgram, LineResult, Observed, observe, out_of_fuel
from .engines import get_engine
from .features import DEFAULT_OPT_LEVELS, compile_settings, features_hit, features_text, in_verify_sample
from .gen_program import Program
from .generator import BIG_ENDIAN_TARGETS, GenConfig, Generator

# Recycle the native workers after this many programs (as often as a `-j` pool process is: 200
# batches). Their compiled code is never freed, but a worker's executor retires by itself after
# 1,000 modules (`native.supervisor`), so memory stays bounded between; restarting a worker costs
# about 2 s under QEMU (its Python, then Cranelift translated again), which every 400 programs,
# as before the executor, was a tenth of an emulated campaign.
RECYCLE_EVERY = 5000
# A batch's programs (their IR, interpreters and compiled code) live until the batch is judged:
# with Python's default threshold (700) the cyclic collector scans each of their objects again
# and again, about 5% of a campaign's CPU. The young generation is collected every this many
# allocations instead (cycles, such as an interpreter's namespace and its functions, are still
# freed, a little later). The count is of allocations net of deallocations, so a batch's objects,
# freed when it is judged, give theirs back: above the most a batch holds at once (40,000-55,000
# for 25 default programs) a collection comes only every few dozen batches, when what outlives
# them (records, caches) has added up, rather than in every batch, scanning its live programs.
GC_THRESHOLD = 100_000


# Programs a seed numbers: program I of seed S is generated from S * PROGRAMS_PER_SEED + I, so an
# index past it would be another seed's program.
PROGRAMS_PER_SEED = 1 << 32


def program_seed(seed: int, index: int) -> int:
    return seed * PROGRAMS_PER_SEED + index


@dataclass(frozen=True)
class CampaignConfig:
    """What every batch needs: plain, picklable data."""

    seed: int
    features: frozenset
    engine_a: str
    engine_b: str
    targets: tuple  # () when engine_b does not compile (a mutant or the interpreter)
    fuel: int
    verify_every: int = 1  # read back and verify every Nth program (and every reproducer)
    reduce: bool = False
    keep: bool = False
    cranelift: str = "current"  # whose rules (`clifkit.dialect`): the generator's shapes, verifying, layout
    opt_levels: tuple = DEFAULT_OPT_LEVELS  # Cranelift opt levels the programs draw from (`features.opt_level`)

    def columns(self) -> tuple[list[str], dict[int, int]]:
        """Column specs, and for each backend column the reference column it is judged against."""
        if not self.targets:
            return [self.engine_a, self.engine_b], {1: 0}
        cols: list[str] = []
        refs: dict[int, int] = {}
        ref_of_order: dict[bool, int] = {}
        for t in self.targets:
            big = t in BIG_ENDIAN_TARGETS
            if big not in ref_of_order:
                ref_of_order[big] = len(cols)
                cols.append(f"{self.engine_a}@{t}")
        for t in self.targets:
            refs[len(cols)] = ref_of_order[t in BIG_ENDIAN_TARGETS]
            cols.append(f"{self.engine_b}@{t}")
        return cols, refs

    def labels(self) -> list[str]:
        """Names for output: a backend by its target; the reference by its engine (and byte order)."""
        cols, refs = self.columns()
        out = []
        for i, c in enumerate(cols):
            name, _, target = c.partition("@")
            if not target:
                out.append(name)
            elif i in refs:
                out.append(target if name == "native" else c)
            else:
                orders = {t in BIG_ENDIAN_TARGETS for t in self.targets}
                out.append(name if len(orders) == 1 else f"{name} ({'big' if target in BIG_ENDIAN_TARGETS else 'little'}-endian)")
        return out

    def gen_config(self) -> GenConfig:
        return GenConfig(features=self.features, target=self.targets[0] if self.targets else "x86_64",
                         targets=tuple(self.targets), cranelift=self.cranelift, opt_levels=tuple(self.opt_levels))


@dataclass
class BatchResult:
    programs: list = field(default_factory=list)  # one dict per program, in index order
    seconds: dict = field(default_factory=dict)  # stage -> CPU seconds


def kind_of(a: Observed, b: Observed) -> str:
    """The kind of a disagreement, for its bucket: value, trap code, crash, compile error."""
    if b.kind == "failed" or a.kind == "failed":
        msg = (b.message if b.kind == "failed" else a.message).lower()
        return "compile-error" if "compil" in msg or "panicked" in msg else "crash"
    if a.kind == "trap" or b.kind == "trap":
        return f"trap:{a.code if a.kind == 'trap' else '-'}/{b.code if b.kind == 'trap' else '-'}"
    return "value"


class BatchRunner:
    """Runs programs of one campaign; keeps its harness (and native workers) across batches."""

    def __init__(self, cfg: CampaignConfig):
        self.cfg = cfg
        self.cols, self.refs = cfg.columns()
        self.labels = cfg.labels()
        # (compact: a generated program's loops run a few iterations; compiling them for speed
        # would cost the interpreter more than it saves)
        options = EngineOptions(fuel=cfg.fuel, compact=True)
        # With the native engine under test, the references run here program by program and the
        # backends get each batch as one module (`run_backends`); otherwise every column runs here.
        self.grouped = bool(cfg.targets)
        first_backend = min(self.refs)
        self.harness = Harness(self.cols[:first_backend] if self.grouped else self.cols, options,
                               dialect=dialect(cfg.cranelift))
        self.backends = [(b, get_engine(self.cols[b].partition("@")[0]), self.cols[b].partition("@")[2])
                         for b in sorted(self.refs)] if self.grouped else []
        self.options = options
        # Programs run from their IR are printed only when their text is wanted (a sampled
        # verification, a reproducer, --keep, an engine that reads text): the reference engines
        # need only the run and heap lines. The native engine, in the harness, reads the text.
        self.lazy_text = not any(getattr(e, "loads_ir", False) for e in self.harness.engines)
        self.gen = Generator(cfg.gen_config())
        self.done = 0
        young, *older = gc.get_threshold()
        if 0 < young < GC_THRESHOLD:
            gc.set_threshold(GC_THRESHOLD, *older)

    def run(self, indices, seconds: dict) -> list[dict]:
        prepared = [self.prepare(i, seconds) for i in indices]
        if self.grouped:
            self.run_backends([p for p in prepared if p[3] is not None], seconds)
        out = []
        for rec, program, text, lines in prepared:
            if lines is not None:
                t = time.process_time()
                self.judge(program, rec["index"], text, lines, rec)
                _add(seconds, "judge", time.process_time() - t)
                if self.cfg.keep:
                    # A kept program expects what the reference (the first column) gave, so that it
                    # passes `clifkit test` where the engines agree: a regression test.
                    expected = [r.outcomes[0].expectation(r.return_types) for r in lines]
                    rec["text"] = program.text(expected, header=_era_advice(self.cfg),
                                               targets=self.kept_targets(lines, expected))
            out.append(rec)
        return out

    def kept_targets(self, lines: list[LineResult], expected: list) -> list[str]:
        """A kept program's target lines: every chosen target whose reference (that of its byte
        order) gave what the file expects, the first target's first (`clifkit test` runs the
        interpreter in that one's byte order). A target of the other byte order is left out only
        when the program's results depend on the order."""
        out = []
        for b in sorted(self.refs):
            target, a = self.cols[b].partition("@")[2], self.refs[b]
            if target and all(r.outcomes[a].expectation(r.return_types) == e for r, e in zip(lines, expected)):
                out.append(target)
        return out

    def prepare(self, index: int, seconds: dict) -> tuple:
        """Generate program `index` and run it on the reference columns (on every column when
        not grouped): (record, program, text, line results or None when it is invalid)."""
        cfg = self.cfg
        t0 = time.process_time()
        program = self.gen.program(program_seed(cfg.seed, index))
        t1 = time.process_time()
        # A sample of the programs is read back from its text and verified (so the printer, the
        # reader and the generator's validity stay checked); the rest run from the generator's IR.
        verify = in_verify_sample(index, cfg.verify_every)
        text = program.text() if verify or cfg.keep or not self.lazy_text else None
        t2 = time.process_time()
        _add(seconds, "generate", t1 - t0)
        _add(seconds, "print", t2 - t1)
        rec: dict = {"index": index, "seed": program.seed,
                     "features": features_hit(program.functions, [h.style for h in program.heaps]),
                     "lines": 0, "outcomes": {}, "rules": {}, "skipped": 0, "error": None, "disagreements": []}
        if self.backends:
            rec["opt_level"] = program.opt_level
        if cfg.keep:
            rec["text"] = text
        self.done += 1
        if self.done % RECYCLE_EVERY == 0:
            _recycle_native_workers()
        where = f"program {index} (generator seed {program.seed})"
        try:
            if verify:
                lines = self.harness.run_text(text, f"<{where}>", timing=seconds)
            elif text is None:
                # Neither printed nor read back: its run lines go to the engines as the generator
                # made them (their text is read back in the sample, as the rest of the program).
                path = f"<{where}>"
                lines = self.harness.run_ir(program.functions, "", program.target, path, timing=seconds,
                                            runs=program.run_commands(path), others=program.heap_directives(path))
            else:
                lines = self.harness.run_ir(program.functions, text, program.target, f"<{where}>", timing=seconds)
        except InvalidProgram as e:
            rec["error"] = {"kind": "invalid", "message": f"{where}: the generator made an invalid program "
                                                          f"(a clifkit fuzz bug):\n{e}", "text": program.text()}
            return rec, program, text, None
        return rec, program, text, lines

    def run_backends(self, prepared: list, seconds: dict) -> None:
        """Run a batch's programs on every backend column as one module per backend and opt level
        (a setting of the whole compilation), the verify sample's programs apart from the rest
        (`features.compile_settings`): functions renamed apart (``%p3_main``), each
        program's directives after its own %main; the native engine gets the module as IR (the
        generator's functions, renamed alike) and does not parse it. One load (one compile
        session) and one run request per module, instead of one per program.
        Appends each line's outcome."""
        groups: dict[tuple, list] = {}
        for one in prepared:
            settings = compile_settings(one[1].opt_level, in_verify_sample(one[0]["index"], self.cfg.verify_every))
            groups.setdefault(settings, []).append(one)
        for b, engine, target in self.backends:
            clock = time.process_time()
            for settings, group in groups.items():
                self._run_module(group, b, engine, target, settings)
            _add(seconds, f"run {engine.name}", time.process_time() - clock)

    def _run_module(self, prepared: list, b: int, engine, target: str, settings: tuple) -> None:
        ref = self.refs[b]
        ir = getattr(engine, "loads_ir", False)  # then the module's text is not needed
        parts, functions, calls, slots = [], [], [], []
        for k, (_rec, program, text, lines) in enumerate(prepared):
            if ir:
                functions += _renamed_functions(program.functions, k)
            else:
                parts.append(_renamed(program.text(), k))
            renamed: dict = {}  # (the program's functions live as long as `renamed`: their ids stay theirs)
            for li, r in enumerate(lines):
                if out_of_fuel(r.outcomes[ref]):
                    continue  # it may not terminate natively
                calls.append((_renamed_bound(r.bound, k, renamed), r.env))
                slots.append((k, li))
        merged = _module_header(target, settings) + "\n".join(parts) if parts else "<fuzz batch: IR>"
        outcomes = self._backend_outcomes(engine, target, settings, merged, functions, calls)
        if outcomes is None:
            # The module did not load: each program alone, as a reproducer compiles it (with
            # Cranelift's verifier), even a batch of one, whose failure is its own.
            for one in prepared:
                self.run_backends_alone(one, b, engine, target, ref)
            return
        filled = {slot: o for slot, o in zip(slots, outcomes or [])}
        for k, (_rec, _program, _text, lines) in enumerate(prepared):
            for li, r in enumerate(lines):
                r.outcomes.append(filled.get((k, li)) or _not_run(self.labels[ref]))

    def run_backends_alone(self, one: tuple, b: int, engine, target: str, ref: int) -> None:
        _rec, program, text, lines = one
        calls = [(_renamed_bound(r.bound, 0), r.env) for r in lines if not out_of_fuel(r.outcomes[ref])]
        settings = compile_settings(program.opt_level, True)  # (as the reproducer compiles)
        merged = _module_header(target, settings) + _renamed(program.text(), 0)
        outcomes = self._backend_outcomes(engine, target, settings, merged,
                                          _renamed_functions(program.functions, 0), calls, whole=True) or []
        it = iter(outcomes)
        for r in lines:
            r.outcomes.append(_not_run(self.labels[ref]) if out_of_fuel(r.outcomes[ref]) else next(it))

    def _backend_outcomes(self, engine, target: str, settings: tuple, merged: str, functions: list, calls: list,
                          whole: bool = False):
        """Observed outcomes of `calls` on one backend, or None when the merged module did not load.
        `merged` is the module's text, `functions` the same as IR: an engine that takes IR (the
        native engine's worker) compiles that rather than reading the text again."""
        from ..ir.function import TestFile

        ir = {"functions": functions} if getattr(engine, "loads_ir", False) else {}
        options = dataclasses.replace(self.options, settings=settings)
        session = engine.open(TestFile("<fuzz batch>"), options, target, source=merged, **ir)
        try:
            if not calls:
                return []
            results = session.call_batch(calls)
            if not whole and getattr(session, "load_error", None) is not None:
                return None
            return [observe(o) for o in results]
        finally:
            session.close()

    def judge(self, program: Program, index: int, text: Optional[str], lines: list[LineResult], rec: dict) -> None:
        cfg, labels = self.cfg, self.labels
        bad: dict[int, list[int]] = {}  # backend column -> disagreeing lines
        for li, r in enumerate(lines):
            rec["lines"] += 1
            _count(rec["outcomes"], r.outcomes[0].klass)  # the first reference: one count per run line
            for b, a in self.refs.items():
                v = r.verdict(labels, a, b)
                for rule in v.rules:
                    _count(rec["rules"], _target_rule(rule, r.outcomes[b], labels[b]))
                if v.status == "skipped":
                    rec["skipped"] += 1
                    if out_of_fuel(r.outcomes[a]) and rec["error"] is None:
                        # Generated programs are bounded (the fuel is a safety net): not the
                        # backend's skip but the program's fault, as failing alike would be.
                        rec["error"] = {"kind": "out-of-fuel", "text": program.text(),
                                        "message": f"program {index} (generator seed {program.seed}): {r.call}: "
                                                   f"{labels[a]}: {r.outcomes[a].message}; "
                                                   f"not run on {labels[b]}"}
                elif v.status == "disagree":
                    bad.setdefault(b, []).append(li)
                elif v.status == "outside-guarantee" and rec["error"] is None:
                    # The program touched memory the native engine leaves open (rule native-page-slack):
                    # a generator fault, never an agreement or an unexplained disagreement.
                    rec["error"] = {"kind": "outside-guarantee", "text": program.text(),
                                    "message": f"program {index} (generator seed {program.seed}): {r.call}: {v.detail}"}
                elif v.status == "error" and rec["error"] is None:
                    rec["error"] = {"kind": "both-failed", "text": program.text(),
                                    "message": f"program {index} (generator seed {program.seed}): {r.call}: "
                                               f"both engines failed: {r.outcomes[a].message}"}
        if not bad:
            return
        text = program.text()
        problem = _verify(text, cfg.cranelift) if cfg.verify_every > 1 else None
        if problem:
            # Every reproducer is read back and verified, sampled or not.
            rec["error"] = {"kind": "invalid", "text": text, "message": f"program {index}: the generator made an "
                                                                          f"invalid program (a clifkit fuzz bug):\n{problem}"}
            return
        broken = _invariant_violations(text)
        if broken:
            # The generator broke one of its own rules: its fault, whatever the engines did.
            rec["error"] = {"kind": "invariant", "text": text,
                            "message": f"the generator broke a rule (a clifkit fuzz bug): {broken[0]}"}
            return
        for b, which in sorted(bad.items()):
            a = self.refs[b]
            r = lines[which[0]]
            target = self.cols[b].partition("@")[2] or None
            repro = reproducer(program, index, cfg, (labels[a], labels[b]), (a, b), lines, which, target)
            d = {"backend": labels[b], "kind": kind_of(r.outcomes[a], r.outcomes[b]), "call": r.call,
                 "detail": r.verdict(labels, a, b).detail, "reproducer": repro, "reduced": None, "opcodes": None,
                 "opt_level": program.opt_level if target else None}
            if cfg.reduce:
                _reduce(d, [self.cols[a], self.cols[b]], cfg.fuel, cfg.cranelift)
            rec["disagreements"].append(d)


def reproducer(program: Program, index: int, cfg: CampaignConfig, names: tuple, cols: tuple,
               lines: list[LineResult], bad: list[int], target: Optional[str]) -> str:
    """The program as a run test with the disagreeing run lines, expecting the reference's results."""
    a, b = cols
    command = (f"clifkit fuzz --seed {cfg.seed} --program {index} --features {features_text(cfg.features)}"
               f" --engine-a {cfg.engine_a} --engine-b {cfg.engine_b}")
    if target:
        command += f" --target {','.join(cfg.targets)}"
    if tuple(cfg.opt_levels) != DEFAULT_OPT_LEVELS:  # (the program's own is its `set opt_level` line)
        command += f" --opt-level {','.join(cfg.opt_levels)}"
    era = dialect(cfg.cranelift)
    if era != CURRENT:
        command += "\n" + _era_advice(cfg)
        command = command.replace(" --engine-a", f" --cranelift {era.name} --engine-a", 1)
    if (cfg.engine_a, cfg.engine_b) != ("interpreter", "native"):  # `clifkit reduce`'s defaults
        flag = f" --cranelift {era.name}" if era != CURRENT else ""
        command += f"\nreduce it with: clifkit reduce{flag} --engine-a {cfg.engine_a} --engine-b {cfg.engine_b}"
    header = [command, f"generator seed {program.seed}; program features: {features_text(program.features)}"]
    expectations = []
    for i in bad:
        r = lines[i]
        oa, ob = r.outcomes[a], r.outcomes[b]
        header.append(f"{r.call}: {names[0]}: {oa.describe(r.return_types)}; {names[1]}: {ob.describe(r.return_types)}")
        expectations.append(oa.expectation(r.return_types) or ob.expectation(r.return_types))
    sub = Program(program.seed, program.functions, program.heaps, [program.runs[i] for i in bad],
                  target or program.target, program.features, program.opt_level)
    return sub.text(expectations, header="\n".join(header))


def _era_advice(cfg: CampaignConfig) -> str:
    """How to run a program of a campaign of another era than today's ("" for today's): its
    shapes (shuffle lanes past 31, tables over heaps) verify and lay out only by that era's rules."""
    era = dialect(cfg.cranelift)
    if era == CURRENT:
        return ""
    return f"run it with: clifkit test --cranelift {era.name} (or reduce it with clifkit reduce --cranelift {era.name})"


# Opcodes left out of a bucket's signature: the plumbing a reduced reproducer keeps whatever its bug.
PLUMBING = frozenset({"iconst", "return", "uextend", "sextend", "ireduce", "jump"})

_NAME_RE = re.compile(r"%(main|f\d+)\b")


def _module_header(target: str, settings: tuple) -> str:
    lines = "".join(f"set {name}={value}\n" for name, value in settings)
    return f"test run\n{lines}target {target}\n\n"


def _renamed(text: str, k: int) -> str:
    """Program `text` without its header lines, its functions renamed apart as program `k`."""
    body = text.split("\n\n", 1)[1] if text.startswith("test ") else text
    return _NAME_RE.sub(lambda m: f"%p{k}_{m.group(1)}", body)


def _renamed_functions(functions: list, k: int) -> list:
    """Copies of a program's functions (IR) renamed apart as program `k`, as `_renamed` renames
    its text: the names and the names their calls refer to."""
    def rename(name: str) -> str:
        return _NAME_RE.sub(lambda m: f"%p{k}_{m.group(1)}", name)

    return [_replaced(f, name=rename(f.name),
                      func_refs={n: _replaced(d, name=ExternalName(rename(d.name.text))) for n, d in f.func_refs.items()})
            for f in functions]


def _replaced(obj, **changes):
    """A shallow copy of `obj` (an object whose state is its __dict__) with `changes`: as
    `dataclasses.replace` without its checks and a call of __init__ (no class copied here has a
    __post_init__ or a field left out of __init__), and as `copy.copy` without its generic
    reduce protocol, several times their cost: a batch copies some 1,500 objects."""
    out = _new(type(obj))
    out.__dict__ = {**obj.__dict__, **changes}
    return out


_new = object.__new__


def _renamed_bound(bound, k: int, renamed: Optional[dict] = None):
    """`bound` calling a copy of its function renamed as program `k` (`renamed`: the copies made
    so far, by function, shared by a program's run lines)."""
    func = renamed.get(id(bound.function)) if renamed is not None else None
    if func is None:
        func = _replaced(bound.function, name=_NAME_RE.sub(lambda m: f"%p{k}_{m.group(1)}", bound.function.name))
        if renamed is not None:
            renamed[id(bound.function)] = func
    return _replaced(bound, function=func)


def _not_run(reference: str) -> Observed:
    return Observed("skipped", message=f"not run: {reference} ran out of fuel")


def _reduce(d: dict, engines: list[str], fuel: int, cranelift: str = "current") -> None:
    from .reduce import ReduceError, reduce_text
    from .reduce_ir import parse_candidate

    try:
        result = reduce_text(d["reproducer"], mode="compare", engines=engines, fuel=fuel, dialect=dialect(cranelift))
    except ReduceError as e:
        d["reduce_error"] = str(e)
        return
    d["reduced"] = result.text
    d["reduced_instructions"] = result.instructions
    d["opcodes"] = sorted({inst.opcode.name for f in parse_candidate(result.text).functions
                           for inst in f.function.instructions()} - PLUMBING)


def _target_rule(rule: str, b: Observed, label: str) -> str:
    """A skip because a backend cannot compile a function is that target's lowering gap."""
    if rule == "engine-skip" and b.kind == "skipped" and ("Unsupported feature" in b.message or "panicked" in b.message
                                                          or "Compilation error" in b.message):
        return f"{label}-lowering-gap"
    return rule


def _verify(text: str, cranelift: str = "current") -> Optional[str]:
    from ..diagnostics import ClifError
    from ..reader import parse_text
    from ..verifier import verify_test_file

    try:
        diags = verify_test_file(parse_text(text), text, dialect=dialect(cranelift))
    except ClifError as e:
        return e.format()
    return "\n".join(d.format() for d in diags[:5]) or None


def _invariant_violations(text: str) -> list[str]:
    from ..reader import parse_text
    from .invariants import nan_leaks, uninit_stack_reads, vmctx_address_reads, wide_load_hazards

    tf = parse_text(text)
    return nan_leaks(tf) + wide_load_hazards(tf) + vmctx_address_reads(tf) + uninit_stack_reads(tf)


def _recycle_native_workers() -> None:
    import sys

    engine = sys.modules.get("clifkit.native.engine")
    if engine is not None:
        engine.close_workers()


def _add(table: dict, key: str, value: float) -> None:
    table[key] = table.get(key, 0.0) + value


def _count(table: dict, key: str) -> None:
    table[key] = table.get(key, 0) + 1


# One runner per process (a pool worker or a Dask worker keeps its harness and native workers).
_RUNNERS: dict = {}


def run_batch(cfg: CampaignConfig, indices: list[int]) -> BatchResult:
    runner = _RUNNERS.get(cfg)
    if runner is None:
        runner = _RUNNERS[cfg] = BatchRunner(cfg)
    result = BatchResult()
    result.programs = runner.run(indices, result.seconds)
    return result


__all__ = ["BatchResult", "CampaignConfig", "EngineUnavailable", "program_seed", "run_batch"]
