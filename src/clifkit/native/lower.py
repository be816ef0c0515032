"""Compile a file's CLIF functions to machine code with Cranelift, through ``cranelift-py``.

API (the worker codes against it)::

    mod = compile_module(functions, triple=None, features=None, host_symbols={...})
    mod.entry(name)       # address of the trampoline of CLIF function `name` (abi.py)
    mod.address(name)     # address of `name` itself, the trampoline's `callee` argument
    mod.signature(name)   # (param types, return types), clifkit Types
    mod.code_size(name)   # machine code bytes of the function itself, or None

All functions go into one JITModule and are finalized once. A function that
cannot be lowered or compiled does not stop the others: `entry()` raises
`NativeUnsupported` with the reason, for it and for every function that refers
to it. `compile_module` itself raises `NativeUnsupported` only when nothing can
be compiled (no usable ISA).

How each function is lowered: `translate.py` (instructions), `legalize.py`
(global values, heaps, tables, trap checks, constants), `trampoline.py`.
Binding gaps and their workarounds: docs/native.md.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Sequence

import cranelift as cl

from .basics import LoweringReport, NativeUnsupported
from ..ir.arch import arch_name
from .host import host_arch, host_triple
from .hostdata import FunctionTable, HostMemory
from .trampoline import build_trampoline, trampoline_key

if TYPE_CHECKING:  # the lowering itself is imported where it runs: a worker that replays what
    # the harness lowered (`compile_lowered`, replay.py) never imports it nor the IR.
    from ..ir.function import Function, TestFile
    from ..ir.types import Type
    from .translate import ModuleContext

__all__ = ["compile_module", "NativeModule", "NativeUnsupported", "host_triple", "isa_flags", "LoweringReport"]

# Flags clifkit always sets: an outlined stack probe calls __cranelift_probestack, a symbol the JIT
# cannot resolve (finalizing the module would panic), so probes are inlined.
FORCED_FLAGS = {"probestack_strategy": "inline"}
# Defaults a file's flags may override: they widen what compiles (more return values than
# registers, i128 in the host convention, tail calls, which Cranelift 0.120 implements only with
# frame pointers) or make stack overflow detectable; every call is between code compiled here, so
# the ABI details they change are never seen from outside.
DEFAULT_FLAGS = {"enable_multi_ret_implicit_sret": "true", "enable_llvm_abi_extensions": "true",
                 "preserve_frame_pointers": "true",
                 # A large frame must touch the stack guard page by page, so that it traps stk_ovf
                 # rather than jumping past the guard into unrelated memory.
                 "enable_probestack": "true"}

def host_call_conv(triple: str):
    """The C calling convention of `triple` (trampolines, host functions)."""
    if "apple" in triple and triple.startswith("aarch64"):
        return cl.CallConv.AppleAarch64
    if "windows" in triple:
        return cl.CallConv.WindowsFastcall
    return cl.CallConv.SystemV


def default_conv_name(triple: str) -> str:
    """The convention of signatures that name none: the host's, as under Cranelift's `test run`."""
    conv = host_call_conv(triple)
    names = {cl.CallConv.AppleAarch64: "apple_aarch64", cl.CallConv.WindowsFastcall: "windows_fastcall"}
    return names.get(conv, "system_v")


def isa_flags(test_file: TestFile, target: Optional[str] = None) -> dict[str, str]:
    """Flags for `compile_module` from a file's ``set`` lines and one of its ``target`` lines
    (`target`: the words after ``target``, e.g. ``"x86_64 sse42 has_avx"``; None: no target flags):
    the set lines before that target line, as the engine reads them (`engine.target_spec`; all of
    them without a target). A bare word means ``=true``. Whether the binding accepts each is
    decided by `compile_module`."""
    from .engine import target_spec  # (the engine's reading, not a second one)

    spec = target_spec(test_file, target)
    return {**spec.settings, **spec.isa_flags}


# -- stderr: the binding prints compile errors and panics there ------------------------------------


_spare_capture: list = []  # one temporary file, reused: creating one per definition was a cost


@contextmanager
def captured_output() -> Iterator[list[str]]:
    """Capture what native code prints while compiling (the binding writes compile errors to
    stdout and panics to stderr): the text of fds 1 and 2 is appended to the yielded list."""
    out: list[str] = []
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
    except (OSError, ValueError, AttributeError):
        yield out
        return
    # The spare file when no capture is under way (a nested one gets a file of its own).
    tmp = _spare_capture.pop() if _spare_capture else tempfile.TemporaryFile()
    try:
        tmp.seek(0)
        tmp.truncate()
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))
    finally:
        if _spare_capture:
            tmp.close()
        else:
            _spare_capture.append(tmp)


def _is_fatal(e: BaseException) -> bool:
    return isinstance(e, (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError))


def _reason(e: BaseException, stderr: Sequence[str] = ()) -> str:
    """A one-paragraph reason from a binding error, with the useful part of what it printed."""
    if isinstance(e, NativeUnsupported):
        return e.reason
    text = str(e) or type(e).__name__
    printed = "".join(stderr)
    detail = ""
    m = re.search(r"VerifierError \{[^}]*message: \"([^\"]*)\"", printed)
    if m:
        detail = m.group(1)
    elif "panicked at" in printed:
        lines = [ln for ln in printed.splitlines() if ln.strip()]
        for i, ln in enumerate(lines):
            if "panicked at" in ln and i + 1 < len(lines):
                detail = lines[i + 1].strip()
                break
    if type(e).__name__ == "PanicException":
        text = f"Cranelift panicked: {text}"
    if detail and detail not in text:
        text = f"{text} ({detail})"
    return text


# -- the module ------------------------------------------------------------------------------------


@dataclass
class _Compiled:
    func: Optional[Function]  # None when the host lowered it (`compile_lowered`)
    func_id: object = None
    tramp_id: object = None
    report: Optional[LoweringReport] = None
    types: Optional[tuple] = None  # (param Types, return Types) when `func` is None
    tramp: Optional[Callable] = None  # builds the trampoline, while it is not compiled (lazy_entries)
    tramp_key: Optional[str] = None  # what the trampoline depends on (`trampoline_key`), lazy_entries:
    # given by a replayed module, worked out when first wanted (`NativeModule.prepare`) for one compiled here


class _Trampolines:
    """The trampolines of the replayed modules of one ISA (triple and flags) and host symbols, by
    `trampoline_key`: compiled into a JIT module of their own that the worker keeps, so that each
    signature's trampoline is compiled once, not once per function of every file (under QEMU a
    trampoline's compile cost more than its function's)."""

    def __init__(self, isa) -> None:
        self.isa = isa
        self.jits = [cl.JITModule(isa)]  # a finalize that failed leaves its module for a new one
        self.entries: dict[str, int] = {}  # key -> address


_TRAMPOLINES: dict[tuple, _Trampolines] = {}  # NativeModule._tramp_scope -> its trampolines


class NativeModule:
    """The compiled functions of one file. Keeps the JIT module and host memory alive."""

    def __init__(self, jit, isa, triple: str, ctx: ModuleContext, compiled: dict[str, _Compiled],
                 unsupported: dict[str, str], ignored_features: dict[str, str], table: FunctionTable):
        self._jit = jit
        self.isa = isa
        self.triple = triple
        self.ctx = ctx
        self._compiled = compiled
        self.unsupported = unsupported  # name -> reason, for functions without an entry
        self.ignored_features = ignored_features  # flag -> why the binding did not take it
        self.table = table
        self._entries: dict[str, int] = {}
        self._sizes: dict[str, Optional[int]] = {}

    def _get(self, name: str) -> _Compiled:
        if name in self.unsupported:
            raise NativeUnsupported(self.unsupported[name], name)
        found = self._compiled.get(name)
        if found is None:
            raise KeyError(f"no function {name} in this module")
        return found

    def functions(self) -> list[str]:
        return list(self._compiled)

    # A replayed module compiles a function's trampoline when its entry is first wanted (a
    # function only ever called by others, as most of a fuzz batch's, never needs one).
    lazy_entries = False

    _tramp_scope: Optional[tuple] = None  # (triple, flags, host symbols): where a replayed module's trampolines are kept

    def prepare(self, names) -> None:
        """Compile the trampolines `names` still lack (one per signature, and none that an
        earlier module of the same ISA compiled already), finalized together; a trampoline that
        does not compile leaves its functions unsupported."""
        todo = [n for n in dict.fromkeys(names) if n in self._compiled and n not in self.unsupported
                and self._compiled[n].tramp is not None]
        if not todo:
            return
        shared = _TRAMPOLINES.get(self._tramp_scope)
        if shared is None:
            shared = _TRAMPOLINES[self._tramp_scope] = _Trampolines(self.isa)
        fresh: dict[str, list[str]] = {}  # key -> the functions waiting for it
        for name in todo:
            c = self._compiled[name]
            if c.tramp_key is None:  # (worked out here: a fuzz batch calls one function per program)
                c.tramp_key = trampoline_key(c.func)
            if c.tramp_key not in shared.entries:
                fresh.setdefault(c.tramp_key, []).append(name)
        jit = shared.jits[-1]
        sig = _tramp_signature(self.isa, self.triple)
        ids = {}
        with captured_output() if fresh else nullcontext():  # (each reads what it printed: `_built`, `_define`)
            # All built first, then all compiled, as a module's functions (`_build`).
            built = [(n, key, waiting, *_built(self._compiled[waiting[0]].tramp))
                     for n, (key, waiting) in enumerate(fresh.items())]
            for n, key, waiting, builder, why in built:
                if why is None:
                    fid, why = _define(jit, f"tramp{len(shared.entries)}.{n}", None, lambda b=builder: b, sig,
                                       shared=True)
                if why is None:
                    ids[key] = fid
                for name in waiting if why is not None else ():
                    self.unsupported[name] = f"its trampoline: {why}"
        why = _finalize(jit) if ids else None
        if why is not None:
            shared.jits.append(cl.JITModule(shared.isa))
            for key in ids:
                for name in fresh[key]:
                    self.unsupported.setdefault(name, f"its trampoline: {why}")
        else:
            for key, fid in ids.items():
                shared.entries[key] = jit.get_finalized_function(fid)
        for name in todo:
            c = self._compiled[name]
            c.tramp = None
            if name not in self.unsupported:
                self._entries[name] = shared.entries[c.tramp_key]

    def entry(self, name: str) -> int:
        """The address of `name`'s trampoline: ``void tramp(u8 *args, u8 *results, u8 *callee)``,
        called with `address(name)` as `callee`."""
        if self._compiled.get(name) is not None and self._compiled[name].tramp is not None:
            self.prepare([name])
        c = self._get(name)
        found = self._entries.get(name)
        if found is None:
            found = self._entries[name] = self._jit.get_finalized_function(c.tramp_id)
        return found

    def address(self, name: str) -> int:
        """The address of the compiled function itself."""
        self._get(name)
        return self.table.read(name)

    def signature(self, name: str) -> tuple[list, list]:
        """(param types, return types), clifkit Types."""
        c = self._compiled.get(name)
        if c is None:
            raise KeyError(f"no function {name} in this module")
        if c.func is None:
            return list(c.types[0]), list(c.types[1])
        return [p.type for p in c.func.signature.params], [r.type for r in c.func.signature.returns]

    def report(self, name: str) -> LoweringReport:
        """What the lowering of `name` emitted: checks (bounds, traps) and workarounds."""
        c = self._compiled.get(name)
        if c is None or c.report is None:
            raise NativeUnsupported(self.unsupported.get(name, f"{name} was not lowered"), name)
        return c.report

    def code_size(self, name: str) -> Optional[int]:
        """Bytes of machine code of `name` (compiled again into an object file to measure it)."""
        if name not in self._sizes:
            try:
                c = self._get(name)
                if c.func is None:
                    raise NativeUnsupported("lowered by the host: no clifkit IR to compile again")
                self._sizes[name] = _object_code_size(self.isa, self.ctx, c.func)
            except Exception:
                self._sizes[name] = None
        return self._sizes[name]


def _object_code_size(isa, ctx: ModuleContext, func: Function) -> Optional[int]:
    from .elfsize import symbol_size
    from .translate import FunctionLowering, cl_signature

    with captured_output():
        obj = cl.ObjectModule(isa, "clifkit")
        fid = obj.declare_function("f", cl.Linkage.Export, cl_signature(func.signature, ctx.default_conv))
        obj.define_function(fid, FunctionLowering(ctx, func).run())
        data = obj.finish().emit()
    return symbol_size(data, "f")


def setting_problem(name: str, value: str) -> Optional[str]:
    """Why Cranelift (through cranelift-py) cannot compile with setting `name`=`value` here, or
    None when it can (`clifkit ... --set NAME=VALUE`)."""
    forced = FORCED_FLAGS.get(name)
    if forced is not None and forced != value:
        return f"clifkit always compiles with {name}={forced}, so that stack overflows trap stk_ovf"
    try:
        with captured_output():
            cl.TargetIsa(host_triple(), **{name: value})
    except BaseException as e:
        if _is_fatal(e):
            raise
        return _reason(e)
    return None


def _make_isa(triple: str, features: dict[str, str]) -> tuple[object, dict[str, str]]:
    flags = dict(DEFAULT_FLAGS)
    flags.update(features)
    flags.update(FORCED_FLAGS)
    ignored: dict[str, str] = {}
    for _ in range(len(flags) + 1):
        try:
            with captured_output():
                return cl.TargetIsa(triple, **flags), ignored
        except Exception as e:
            text = str(e)
            m = re.search(r"Failed to set flag '([^']+)'", text)
            if m and m.group(1) in flags:
                name = m.group(1)
                ignored[name] = text.split(": ", 1)[-1]
                del flags[name]
                continue
            raise NativeUnsupported(f"no Cranelift ISA for {triple}: {_reason(e)}") from None
        except BaseException as e:  # a PanicException (bad triple)
            if _is_fatal(e):
                raise
            raise NativeUnsupported(f"no Cranelift ISA for {triple}: {_reason(e)}") from None
    raise NativeUnsupported(f"no Cranelift ISA for {triple}")


def _normalize_triple(triple: Optional[str]) -> str:
    host = host_triple()
    if not triple:
        return host
    arch = triple.split("-")[0]
    arch = arch_name(arch)
    if arch != host_arch():
        raise NativeUnsupported(f"cannot run {arch} code on this {host_arch()} host")
    return host if "-" not in triple else triple


def compile_module(functions: list[Function], *, triple: Optional[str] = None,
                   features: Optional[dict[str, str]] = None, host_symbols: dict[str, int]) -> NativeModule:
    """Compile every function of a file into one JIT module (see the module docstring)."""
    triple = _normalize_triple(triple)
    isa, ignored = _make_isa(triple, features or {})
    excluded: dict[str, str] = {}
    for _ in range(len(functions) + 1):
        try:
            module = _build(functions, isa, triple, dict(host_symbols), ignored, excluded)
            module._tramp_scope = (triple, tuple(sorted((features or {}).items())), tuple(sorted(host_symbols.items())))
            return module
        except _FinalizeFailed as failure:
            culprits = _find_finalize_culprits(functions, isa, triple, dict(host_symbols), excluded)
            if not culprits:
                raise NativeUnsupported(f"finalizing the module failed: {failure.reason}") from None
            excluded.update(culprits)
    raise NativeUnsupported("finalizing the module failed repeatedly")


class _FinalizeFailed(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _context(functions, isa, triple, host_symbols, memory, table) -> ModuleContext:
    from ..ir.types import Type
    from .translate import ModuleContext

    pointer = Type.get("i", cl.Type.target_pointer_type(isa).bits())
    return ModuleContext(pointer=pointer, function_slots={f.name: table.slot(f.name) for f in functions},
                         host_symbols=host_symbols, memory=memory, **target_facts(triple))


def target_facts(triple: str) -> dict:
    """What the lowering needs to know of a target besides its pointer width and byte order
    (`ModuleContext` fields): conventions, frame alignment, vector widths it computes on."""
    return {"host_conv": host_call_conv(triple), "default_conv": default_conv_name(triple),
            "stack_align": 8 if triple.startswith("s390x") else 16,
            "vector_bits": frozenset({128}) if triple.startswith("x86_64") else None}


def _define(jit, name: str, func: Optional[Function], builder_fn, sig,
            shared: bool = False) -> tuple[object, Optional[str]]:
    """Declare and define one function; (func_id, None) or (None, reason). `shared`: called
    inside a `captured_output` of several definitions (`_build`), whose file holds what this one
    printed from where it was when it started: one redirection of the output per module, not
    one per definition."""
    start = _output_position() if shared else None
    stderr: list[str] = []
    try:
        with captured_output() if start is None else nullcontext(stderr) as stderr:
            builder = builder_fn()
            fid = jit.declare_function(name, cl.Linkage.Local, sig)
            jit.define_function(fid, builder)
        return fid, None
    except BaseException as e:
        if _is_fatal(e):
            raise
        if start is not None:
            stderr = _printed_since(start)
        return None, _reason(e, stderr)


def _built(builder_fn) -> tuple[object, Optional[str]]:
    """(the finished builder `builder_fn` returns, None), or (None, why it failed, with what it
    printed), inside a `captured_output` of several definitions: `_define`'s first step, taken
    apart (`_build` lowers every function before it compiles any)."""
    start = _output_position()
    try:
        return builder_fn(), None
    except BaseException as e:
        if _is_fatal(e):
            raise
        return None, _reason(e, _printed_since(start))


def _printed_since(start: Optional[int]) -> list[str]:
    """What was written to fd 1 (a `captured_output`'s file) from `start` on, as `_reason` takes it."""
    end = _output_position()
    if start is None or end is None:
        return []
    return [os.pread(1, end - start, start).decode("utf-8", "replace")]


def _output_position() -> Optional[int]:
    """Where the next byte written to fd 1 goes, when it is a file (in a `captured_output`)."""
    try:
        return os.lseek(1, 0, os.SEEK_CUR)
    except OSError:
        return None


def compile_lowered(lowered: dict, *, triple: Optional[str] = None, features: Optional[dict[str, str]] = None,
                    host_symbols: dict[str, int]) -> NativeModule:
    """`compile_module` of functions the host lowered already (`replay.lower_for_worker`): the
    recorded builder calls are replayed here, then compiled and finalized as `compile_module` does."""
    from .basics import gc_paused

    triple = _normalize_triple(triple)
    isa, ignored = _make_isa(triple, features or {})
    excluded: dict[str, str] = {}
    for _ in range(len(lowered["functions"]) + 1):
        try:
            with gc_paused():
                return _build_replayed(lowered, isa, triple, features or {}, dict(host_symbols), ignored, excluded)
        except _FinalizeFailed as failure:
            culprits = _find_replayed_culprits(lowered, isa, dict(host_symbols), excluded)
            if not culprits:
                raise NativeUnsupported(f"finalizing the module failed: {failure.reason}") from None
            excluded.update(culprits)
    raise NativeUnsupported("finalizing the module failed repeatedly")


def _replay(lowered: dict, host_symbols: dict):
    from .replay import Replay, Resolver

    memory = HostMemory()
    table = FunctionTable(memory, [e["name"] for e in lowered["functions"]])
    return Replay(lowered, Resolver(memory, table, host_symbols)), memory, table


def _tramp_signature(isa, triple: str):
    ptr = cl.Type.target_pointer_type(isa)
    sig = cl.Signature(host_call_conv(triple))
    sig.add_param(ptr)
    sig.add_param(ptr)
    return sig


def _build_replayed(lowered, isa, triple, features, host_symbols, ignored, excluded) -> NativeModule:
    replay, memory, table = _replay(lowered, host_symbols)
    jit = cl.JITModule(isa)
    compiled: dict[str, _Compiled] = {}
    unsupported: dict[str, str] = {}
    entries = lowered["functions"]
    replayed = []  # (index, name, its _Compiled, finished builder, binding signature): as `_build`,
    # every function is replayed, then each compiled
    with captured_output():  # (each replay and definition reads what it printed: `_built`, `_define`)
        for i, e in enumerate(entries):
            name = e["name"]
            c = compiled[name] = _Compiled(None, types=([_type(t) for t in e["params"]],
                                                        [_type(t) for t in e["returns"]]))
            if name in excluded:
                unsupported[name] = excluded[name]
                continue
            # The host's report: what the worker needs of it is which functions it refers to.
            c.report = LoweringReport(name, callees=set(e["callees"]))
            if e["reason"] is not None:
                unsupported[name] = e["reason"]
                continue
            builder, why = _built(lambda u=e["body"]: replay.unit(u))
            if why is not None:
                unsupported[name] = why
            else:
                replayed.append((i, name, c, builder, replay.const(e["signature"])))
        for i, name, c, builder, sig in replayed:
            c.func_id, why = _define(jit, f"clif{i}", None, lambda b=builder: b, sig, shared=True)
            if why is not None:
                unsupported[name] = why
    for e in entries:
        if e["name"] not in unsupported:
            compiled[e["name"]].tramp = lambda u=e["trampoline"]: replay.unit(u)
            compiled[e["name"]].tramp_key = e["tramp_key"]
    module = _finish(jit, isa, triple, None, compiled, unsupported, ignored, table, memory)
    module.lazy_entries = True
    # The trampolines call the host symbols (`recover.py`): the same for a worker's life.
    module._tramp_scope = (triple, tuple(sorted(features.items())), tuple(sorted(host_symbols.items())))
    module._replay = replay  # the trampolines' recordings, replayed when wanted
    return module


def _type(name: str):
    from ..ir.types import parse_type

    return parse_type(name)


def _find_replayed_culprits(lowered, isa, host_symbols, excluded) -> dict[str, str]:
    """`_find_finalize_culprits` for a replayed module: each function replayed and linked alone."""
    culprits: dict[str, str] = {}
    for e in lowered["functions"]:
        if e["name"] in excluded or e["reason"] is not None:
            continue
        replay, _memory, _table = _replay(lowered, host_symbols)
        jit = cl.JITModule(isa)
        fid, why = _define(jit, "probe", None, lambda u=e["body"]: replay.unit(u), replay.const(e["signature"]))
        if why is None:
            why = _finalize(jit)
            if why is not None:
                culprits[e["name"]] = f"linking its code failed: {why}"
    return culprits


def _build(functions, isa, triple, host_symbols, ignored, excluded) -> NativeModule:
    from .translate import FunctionLowering, cl_signature

    memory = HostMemory()
    names = [f.name for f in functions]
    table = FunctionTable(memory, names)
    ctx = _context(functions, isa, triple, host_symbols, memory, table)
    jit = cl.JITModule(isa)
    compiled: dict[str, _Compiled] = {}
    unsupported: dict[str, str] = {}
    # Every function is lowered first, then each is compiled: the lowering's Python and
    # Cranelift's compile each run in one stretch, finding their code and data still in the
    # caches that the other, run in between, would have emptied (the executor's loads and runs in
    # the fuzzer: some 7% less CPU than lowering and compiling function by function).
    lowered = []  # (index, function, its _Compiled, binding signature, finished builder)
    with captured_output():  # (each lowering and definition reads what it printed: `_built`, `_define`)
        for i, func in enumerate(functions):
            c = compiled[func.name] = _Compiled(func)
            if func.name in excluded:
                unsupported[func.name] = excluded[func.name]
                continue
            try:
                sig = cl_signature(func.signature, ctx.default_conv)
            except NativeUnsupported as e:
                c.report = LoweringReport(func.name)
                unsupported[func.name] = e.reason
                continue
            lowering = FunctionLowering(ctx, func, signature=sig)
            c.report = lowering.report
            builder, why = _built(lowering.run)
            if why is not None:
                unsupported[func.name] = why
            else:
                lowered.append((i, func, c, sig, builder))
        for i, func, c, sig, builder in lowered:
            c.func_id, why = _define(jit, f"clif{i}", func, lambda b=builder: b, sig, shared=True)
            if why is not None:
                unsupported[func.name] = why
    # Trampolines are compiled when an entry is first wanted, one per signature for every module
    # of the same ISA (`NativeModule.prepare`): a fuzz batch calls one function of each program.
    for func in functions:
        if func.name not in unsupported:
            c = compiled[func.name]
            c.tramp = lambda f=func: build_trampoline(ctx, f)
    module = _finish(jit, isa, triple, ctx, compiled, unsupported, ignored, table, memory)
    module.lazy_entries = True
    return module


def _finish(jit, isa, triple, ctx, compiled, unsupported, ignored, table, memory) -> NativeModule:
    """Propagate failures to callers, finalize, fill the function table."""
    _propagate(compiled, unsupported)
    why = _finalize(jit)
    if why is not None:
        raise _FinalizeFailed(why)
    for name, c in compiled.items():
        if c.func_id is not None and name not in unsupported:
            table.fill(name, jit.get_finalized_function(c.func_id))
    # Functions compiled but left without an entry keep their table slot filled when they could
    # still be reached (e.g. by func_addr); unfinished ones stay 0.
    for name, c in compiled.items():
        if c.func_id is not None and name in unsupported and not _refers_to_failed(c, unsupported):
            table.fill(name, jit.get_finalized_function(c.func_id))
    module = NativeModule(jit, isa, triple, ctx, compiled, unsupported, ignored, table)
    module._memory = memory  # the constants the code reads live as long as the module
    return module


def _refers_to_failed(c: _Compiled, unsupported: dict[str, str]) -> bool:
    return c.report is None or any(callee in unsupported for callee in c.report.callees)


def _propagate(compiled: dict[str, _Compiled], unsupported: dict[str, str]) -> None:
    """A function that refers to one without code cannot run either."""
    changed = True
    while changed:
        changed = False
        for name, c in compiled.items():
            if name in unsupported or c.report is None:
                continue
            for callee in sorted(c.report.callees):
                if callee in unsupported and callee != name:
                    unsupported[name] = f"it refers to {callee}, which cannot be compiled: {unsupported[callee]}"
                    changed = True
                    break


def _find_finalize_culprits(functions, isa, triple, host_symbols, excluded) -> dict[str, str]:
    """Which functions make finalizing panic (an unresolvable libcall): compile each alone."""
    from .translate import FunctionLowering, cl_signature

    culprits: dict[str, str] = {}
    for func in functions:
        if func.name in excluded:
            continue
        memory = HostMemory()
        table = FunctionTable(memory, [f.name for f in functions])
        ctx = _context(functions, isa, triple, host_symbols, memory, table)
        jit = cl.JITModule(isa)
        try:
            sig = cl_signature(func.signature, ctx.default_conv)
        except NativeUnsupported:
            continue
        fid, why = _define(jit, "probe", func, FunctionLowering(ctx, func).run, sig)
        if why is not None:
            continue
        why = _finalize(jit)
        if why is not None:
            culprits[func.name] = f"linking its code failed: {why}"
    return culprits


def _finalize(jit) -> Optional[str]:
    """Finalize the module's definitions: None, or why it failed (with what Cranelift printed)."""
    return failure_of(jit.finalize_definitions)


def failure_of(fn) -> Optional[str]:
    """Call `fn()` capturing what the binding prints: None, or why it failed (with what it printed)."""
    stderr: list[str] = []
    try:
        with captured_output() as stderr:
            fn()
    except BaseException as e:
        if _is_fatal(e):
            raise
        return _reason(e, stderr)
    return None
