"""`clifkit reduce`: shrink a failing run test while it keeps failing the same way.

Like Cranelift's old bugpoint, the reducer tries one simplification after
another and keeps each that leaves the failure intact:

- keep only the failing run line (and turn it into a ``print`` line while
  reducing, so that changing the results does not make it ill-formed);
- remove whole functions (calls to them become constants);
- replace branches by jumps to one of their (forward) targets, then drop
  unreachable blocks and merge straight-line blocks;
- remove instructions, in chunks then one by one, each result replaced by a
  constant of its type (zero);
- remove block parameters, function parameters and return values;
- simplify constants and run-line arguments to 0 or 1;
- drop what nothing uses: dead pure instructions, stack slots, global
  values, heaps and tables, signatures, function references.

"The same way" is the failing run line's *outcome class*, checked by running
the harness in-process on every candidate:

- ``compare`` mode (two engines, the first the reference): the engines still
  disagree (under the named rules, `compare.judge`) and each still gives the
  same kind of outcome as before: results, a trap with the same code, a
  failure;
- ``expect`` mode (one engine): the engine still gives exactly the same wrong
  outcome against the run line's expectation.

A candidate that does not read, verify or bind is simply rejected, and one on
which the reference interpreter runs out of fuel is never given to the other
engine. The result is a minimal `.clif` file; in compare mode its run line
expects the reference engine's result, so ``clifkit test --compare`` fails
on it as long as the bug is there.

This module is the driver (`Reducer`: which edits to try, in which order, until nothing
changes) and the entry points (`reduce_text`, `reduce_file`). The edits themselves are in
`reduce_edits`, the clean-ups after each edit in `reduce_cleanup`, the helpers they share in
`reduce_ir`, and the "fails the same way" check in `reduce_oracle`.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, TextIO

from ..diagnostics import ClifError
from ..dialect import CURRENT, Dialect
from ..ir.function import TestFile
from ..printer import format_test_file
from ..engine import EngineUnavailable
from .invariants import nan_leaks, uninit_stack_reads, vmctx_address_reads, wide_load_hazards
from .reduce_chunks import remove_chunks
from .reduce_cleanup import tidy
from .reduce_edits import (
    SETTABLE_CONSTANTS, Edit, ancestor_values, bypass, drop_environment, drop_last_directive, inst_sites, remove_block_param,
    thread_jump, remove_function, remove_insts, remove_param, remove_return, retarget_run, set_arg, set_const,
    simplify_branch,
)  # fmt: skip
from .reduce_ir import RunLine, count_instructions, function_named, inst_at, parse_candidate, set_run_line, strip_comments
from .reduce_oracle import DEFAULT_FUEL, Oracle, ReduceError, ReduceInterrupted, Reduction


class Reducer:
    """Applies the edits of reduce_edits to the current text, keeping each candidate the oracle
    says still fails the same way, round after round until a round changes nothing."""

    def __init__(self, oracle: Oracle, log: Optional[TextIO] = None):
        self.oracle = oracle
        self.log = log
        self.text = ""
        self.run: Optional[RunLine] = None
        self.klass: Optional[tuple] = None
        # When the original keeps rule nan-bits (as generated programs do), every candidate must:
        # otherwise deleting a canonicalisation can swap the failure for a NaN-bits artefact.
        self.keep_nan_invariant = False
        self.keep_load_invariant = False  # likewise for the load widening of rule cranelift-bug
        self.keep_vmctx_invariant = False  # likewise for reads of vmctx base slots (rule address-leak)
        self.keep_stack_invariant = False  # and for reads of stack bytes not yet written (rule uninit-stack)

    def say(self, message: str) -> None:
        if self.log is not None:
            print(message, file=self.log)
            self.log.flush()

    # -- state -----------------------------------------------------------------------------------
    def render(self, tf: TestFile, run: RunLine) -> str:
        set_run_line(tf, run, print_only=self.oracle.mode == "compare")
        return format_test_file(tf)

    def fails_same(self, text: str) -> bool:
        if self.keep_nan_invariant or self.keep_load_invariant or self.keep_vmctx_invariant or self.keep_stack_invariant:
            tf = parse_candidate(text)
            if self.keep_stack_invariant and uninit_stack_reads(tf):
                return False  # reads stack garbage natively (rule uninit-stack): differs between engines anyway
            if self.keep_vmctx_invariant and vmctx_address_reads(tf):
                return False  # reads an address (rule address-leak): differs between engines anyway
            if self.keep_nan_invariant and nan_leaks(tf):
                return False  # an artefact of rule nan-bits, not the failure we are after
            if self.keep_load_invariant and wide_load_hazards(tf):
                return False  # a known Cranelift bug (rule cranelift-bug), not the failure we are after
        results = self.oracle.run(text)
        if not results:
            return False
        return self.oracle.classify(results[0]) == self.klass

    def attempt(self, edit: Edit, what: str = "") -> bool:
        tf = parse_candidate(self.text)
        run = RunLine(self.run.function, list(self.run.args), list(self.run.arg_types), self.run.tail, self.run.kind,
                      list(self.run.arg_hex))
        try:
            if not edit(tf, run):
                return False
            tidy(tf)
            text = self.render(tf, run)
        except (ClifError, KeyError, IndexError, ValueError, AttributeError, TypeError):
            return False
        if text == self.text or not self.fails_same(text):
            return False
        self.text, self.run = text, run
        if what:
            self.say(f"  {what}: {count_instructions(parse_candidate(text))} instructions")
        return True

    # -- start --------------------------------------------------------------------------------------
    def start(self, text: str, line: Optional[int] = None) -> None:
        # Another run line that does not bind (a wrong argument count, say) does not keep this one
        # from being reduced: `clifkit test` reports it apart too. The chosen one must bind.
        harness = self.oracle.harness
        harness.skip_unbound = True
        try:
            results = self.oracle.run(text)
        finally:
            harness.skip_unbound = False
        unbound = dict(harness.unbound)
        if results is not None and line in unbound:
            raise ReduceError(f"line {line} does not bind:\n{unbound[line].format()}")
        if results is not None and not results and unbound:
            raise ReduceError(f"no run line binds:\n{next(iter(unbound.values())).format()}")
        if results is None:
            invalid = self.oracle.invalid
            step = invalid.step if invalid is not None else "read, verify or bind"
            why = f":\n{invalid}" if invalid is not None and str(invalid) else ""
            raise ReduceError(f"the file does not {step}{why}")
        if not results and not unbound:
            raise ReduceError("the file has no run line to reduce")
        failing = [r for r in results if self.oracle.classify(r) is not None]
        if line is not None:
            chosen = [r for r in results if r.line == line]
            if not chosen:
                raise ReduceError(_not_a_run_line(line, text, {r.line for r in results} | set(unbound)))
            failing = [r for r in failing if r.line == line]
        if not failing:
            what = f"line {line} ({chosen[0].call})" if line is not None else "no run line"
            engines = " and ".join(self.oracle.engines)
            if self.oracle.mode == "compare":
                verb = "does not fail" if line is not None else "fails"
                raise ReduceError(f"{what} {verb} on {engines}: the engines agree (--expect reduces a run line "
                                  f"that fails against its own expectation on {self.oracle.engines[0]})")
            if line is not None:
                raise ReduceError(f"{what} does not fail on {engines}: it gives what the line expects")
            raise ReduceError(f"no run line fails on {engines}: each gives what it expects")
        r = failing[0]
        self.klass = self.oracle.classify(r)
        cmd = r.bound.command
        tail = ""
        if cmd.comparison is not None and cmd.call is not None:
            tail = cmd.source_line[cmd.call.end_col - 1 : cmd.end_col - 1].strip()
        self.run = RunLine(r.function.name, list(r.bound.args), list(r.bound.arg_types), tail, cmd.kind,
                           _hex_arguments(cmd))
        tf = parse_candidate(text)
        self.keep_nan_invariant = self.oracle.mode == "compare" and not nan_leaks(tf)
        self.keep_load_invariant = self.oracle.mode == "compare" and not wide_load_hazards(tf)
        self.keep_vmctx_invariant = self.oracle.mode == "compare" and not vmctx_address_reads(tf)
        self.keep_stack_invariant = self.oracle.mode == "compare" and not uninit_stack_reads(tf)
        strip_comments(tf)
        single = self.render(tf, self.run)
        if not self.fails_same(single):
            raise ReduceError(f"line {r.line} does not fail the same way when it is the only run line")
        self.text = single
        self.say(f"reducing line {r.line} ({r.call}): {' '.join(self.klass)}")

    # -- passes -------------------------------------------------------------------------------------
    def reduce(self) -> None:
        for round_ in range(20):
            before = self.text
            self.pass_functions()
            self.pass_branches()
            self.pass_instructions()
            self.pass_block_params()
            self.pass_signatures()
            self.pass_environment()
            self.pass_constants()
            if self.text == before:
                break

    def pass_functions(self) -> None:
        tf = parse_candidate(self.text)
        for d in list(tf.functions):
            name = d.function.name
            if name != self.run.function:
                self.attempt(remove_function(name), f"removed {name}")
        if self.oracle.mode != "compare":
            return  # the expectation is the run function's own
        for d in tf.functions:
            caller = self.run.function
            if self.attempt(retarget_run(d.function.name), f"the run line calls {d.function.name}"):
                self.attempt(remove_function(caller), f"removed {caller}")

    def pass_branches(self) -> None:
        tf = parse_candidate(self.text)
        sites = []
        for fi, d in enumerate(tf.functions):
            for b, block in d.function.blocks.items():
                if block.insts and block.insts[-1].opcode.name in ("brif", "br_table"):
                    sites.append((fi, b, len(block.insts[-1].branch_targets())))
        for fi, b, n in sites:
            for choice in range(n):
                if self.attempt(simplify_branch(fi, b, choice), f"branch in block{b} made a jump"):
                    break
        tf = parse_candidate(self.text)
        for fi, d in enumerate(tf.functions):
            for b, block in list(d.function.blocks.items()):
                if block.insts and block.insts[-1].opcode.name == "jump":
                    for choice in range(2):
                        if self.attempt(thread_jump(fi, b, choice), f"jump of block{b} threaded past its target"):
                            break

    def pass_instructions(self) -> None:
        found: dict[str, list] = {}  # the sites of the current text (read again when it changes)

        def sites() -> list[tuple[int, int, int]]:
            if self.text not in found:
                found.clear()
                # From the end: later instructions depend on earlier ones, not the other way round.
                found[self.text] = inst_sites(parse_candidate(self.text))[::-1]
            return found[self.text]

        def remove(i: int, chunk: int) -> bool:
            group = sites()[i : i + chunk]
            if chunk == 1 and self.try_bypass(*group[0]):
                return True
            return self.attempt(remove_insts(group), f"removed {len(group)} instruction{'s' if len(group) > 1 else ''}")

        remove_chunks(lambda: len(sites()), remove)

    def try_bypass(self, fi: int, b: int, k: int) -> bool:
        site = inst_at(parse_candidate(self.text), fi, b, k)
        if site is None:
            return False
        func, _, inst = site
        if len(inst.results) != 1:
            return False
        t = func.value_types.get(inst.results[0])
        count = sum(1 for a in ancestor_values(func, inst) if func.value_types.get(a) is t)
        for choice in range(min(count, 6)):
            if self.attempt(bypass(fi, b, k, choice), "replaced an instruction by a value it is computed from"):
                return True
        return False

    def pass_block_params(self) -> None:
        tf = parse_candidate(self.text)
        for fi, d in enumerate(tf.functions):
            for b in list(d.function.blocks)[1:]:
                self.remove_each(lambda: self.block_param_count(fi, b), lambda k: remove_block_param(fi, b, k),
                                 lambda k: f"removed a parameter of block{b}")

    def block_param_count(self, fi: int, b: int) -> int:
        """How many parameters block b of function fi of the current text has (0 if it is gone)."""
        cur = parse_candidate(self.text).functions[fi].function.blocks.get(b)
        return len(cur.params) if cur is not None else 0

    def pass_signatures(self) -> None:
        tf = parse_candidate(self.text)
        for d in tf.functions:
            name = d.function.name
            self.remove_each(lambda: self.signature_length(name, "params"), lambda k: remove_param(name, k),
                             lambda k: f"removed parameter {k} of {name}")
            if self.oracle.mode == "expect" and name == self.run.function:
                continue  # the expectation names the returns
            self.remove_each(lambda: self.signature_length(name, "returns"), lambda k: remove_return(name, k),
                             lambda k: f"removed return value {k} of {name}")

    def signature_length(self, name: str, part: str) -> int:
        """How many params or returns function `name` of the current text has (0 if it is gone)."""
        cur = function_named(parse_candidate(self.text), name)
        return len(getattr(cur.signature, part)) if cur is not None else 0

    def remove_each(self, count: Callable[[], int], edit: Callable[[int], Edit], what: Callable[[int], str]) -> None:
        """Try removing item k = 0, 1, ... of something with `count()` items now; a kept removal keeps k."""
        k = 0
        while k < count():
            if not self.attempt(edit(k), what(k)):
                k += 1

    def pass_environment(self) -> None:
        if self.attempt(drop_environment, "removed the heap and table directives"):
            return
        for fi in range(len(parse_candidate(self.text).functions)):
            while self.attempt(drop_last_directive(fi), f"removed the last heap or table directive of function {fi}"):
                pass

    def pass_constants(self) -> None:
        def sites() -> list[tuple[int, int, int]]:
            tf = parse_candidate(self.text)
            return [(fi, b, k) for fi, d in enumerate(tf.functions) for b, block in d.function.blocks.items()
                    for k, inst in enumerate(block.insts)
                    if inst.opcode.name in SETTABLE_CONSTANTS]

        i = 0
        found = sites()
        while i < len(found):
            if any(self.attempt(set_const(*found[i], value)) for value in (0, 1)):
                found = sites()  # an edit may have removed instructions: positions moved
            i += 1
        for i in range(len(self.run.args)):
            for value in (0, 1):
                if self.attempt(set_arg(i, value), f"argument {i + 1} set to {value}"):
                    break

    # -- the end ------------------------------------------------------------------------------------
    def finish(self) -> str:
        """The reduced file, its run line expecting the reference engine's outcome (compare mode)."""
        tf = parse_candidate(self.text)
        results = self.oracle.run(self.text)
        run = self.run
        if self.oracle.mode == "compare" and results:
            r = results[0]
            expected = r.outcomes[0].expectation(r.return_types) or r.outcomes[1].expectation(r.return_types)
            if expected is not None:
                run = RunLine(run.function, run.args, run.arg_types, f"== {expected}", "run", run.arg_hex)
            header = [f"reduced by clifkit reduce: {self.oracle.engines[0]} and {self.oracle.engines[1]} disagree",
                      f"{r.call}: " + "; ".join(f"{n}: {o.describe(r.return_types)}"
                                                   for n, o in zip(self.oracle.engines, r.outcomes))]
        else:
            header = [f"reduced by clifkit reduce: {self.oracle.engines[0]} gives {self.klass[-1]}"]
        era = self.oracle.harness.dialect
        if era.name != "current":
            header.append(f"by the {era.name} rules: run it with clifkit test --cranelift {era.name}")
        set_run_line(tf, run, print_only=False)
        if tf.commands:
            tf.commands[0].comments_before = [f"; {h}" for h in header]
        return format_test_file(tf)


def _not_a_run_line(line: int, text: str, run_lines: set) -> str:
    """Why `--line N` names no run line: it lies outside the file, or holds something else."""
    where = ", ".join(str(n) for n in sorted(run_lines))
    lines = f"its run lines are at lines {where}" if where else "it has no run line"
    count = len(text.splitlines())
    if not 1 <= line <= count:
        return f"line {line} is outside the file, which has {count} lines ({lines})"
    return f"line {line} is not a run line ({lines})"


def _hex_arguments(cmd) -> list[bool]:
    """Per argument of a run line: was it written in hex? (A vector is, when its first lane is.)"""
    from ..reader.directives import ListNode
    from ..ir.values import is_hex_int_literal

    out = []
    for node in cmd.call.args if cmd.call is not None else ():
        while isinstance(node, ListNode) and node.items:
            node = node.items[0]
        out.append(not isinstance(node, ListNode) and is_hex_int_literal(node.text))
    return out


def reduce_text(text: str, mode: str = "compare", engines: Sequence[str] = ("interpreter", "native"),
                fuel: int = DEFAULT_FUEL, line: Optional[int] = None, path: str = "<reduce>",
                log: Optional[TextIO] = None, dialect: Dialect = CURRENT, calls_followed: bool = False) -> Reduction:
    """Reduce `text` (see the module doc), by the rules of `dialect` and `calls_followed`
    (`clifkit test --cranelift` and `--run-calls followed`)."""
    try:
        original = count_instructions(parse_candidate(text, path))
    except ClifError as e:
        raise ReduceError(e.format()) from None
    first_error = unavailable = None
    for columns in _columns_to_try(text, path, mode, engines):
        try:
            oracle = Oracle(mode, columns, fuel, path, dialect, calls_followed)
            reducer = Reducer(oracle, log)
            reducer.start(text, line)  # (opens the engines: a target this machine cannot run fails here)
            break
        except EngineUnavailable as e:
            # A target no engine here runs (riscv64, say) is left out, as `clifkit test` skips its
            # lines; said only when no target that runs gave a reason of its own.
            unavailable = unavailable or ReduceError(str(e))
        except ReduceError as e:
            first_error = first_error or e
    else:
        raise first_error or unavailable
    try:
        reducer.reduce()
        out = reducer.finish()
    except KeyboardInterrupt:
        # A reduction can take minutes: what it had found goes with the interrupt. (`finish` is not
        # run: it asks the engines again, and one may have been stopped in the middle of a request.)
        out = reducer.text
        raise ReduceInterrupted(Reduction(out, reducer.klass, count_instructions(parse_candidate(out)), original,
                                          oracle.checks)) from None
    return Reduction(out, reducer.klass, count_instructions(parse_candidate(out)), original, oracle.checks)


def _columns_to_try(text: str, path: str, mode: str, engines: Sequence[str]) -> list[list[str]]:
    """The engines as given, then, for a file naming several targets, the same engines on each
    later target (``native@s390x``, the interpreter in that target's byte order): the engines run
    a file's first target unless told, and a failure on another is reduced on that one, where
    `clifkit test` shows it."""
    from ..reader import parse_text

    out = [list(engines)]
    if any("@" in e for e in engines) or (mode == "expect" and engines[0] != "native"):
        return out  # (`clifkit test` runs an interpreter in the first target's byte order alone)
    try:
        specs = parse_text(text, path).isa_specs
    except ClifError:
        return out
    targets = [" ".join(s.words) for s in specs if s.kind == "target" and s.words]
    return out + [[f"{e}@{t}" for e in engines] for t in dict.fromkeys(targets[1:]) if t != targets[0]]


def reduce_file(path: str, mode: str = "compare", engines: Sequence[str] = ("interpreter", "native"),
                fuel: int = DEFAULT_FUEL, line: Optional[int] = None, log: Optional[TextIO] = None,
                dialect: Dialect = CURRENT, calls_followed: bool = False) -> Reduction:
    from ..reader.parser import read_clif

    try:  # (opened apart: a file that cannot be opened keeps its plain one-line wording)
        with open(path, "rb"):
            pass
    except OSError as e:
        raise ReduceError(f"cannot read the file: {e.strerror or e}") from None
    try:
        text = read_clif(path)  # a file that is not UTF-8: located at its first bad byte, as the reader does
    except ClifError as e:
        raise ReduceError(e.format()) from None
    return reduce_text(text, mode, engines, fuel, line, path, log, dialect, calls_followed)
