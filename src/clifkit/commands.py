"""`clifkit run`, `clifkit interpret`, `clifkit compile`: clif-util's everyday commands, and the
options that `clifkit test` shares with the first two.

- `clifkit interpret FILE...` runs every ``; run:`` / ``; print:`` line on the
  interpreter, calling the function each line names, whatever the file's
  ``test`` lines say (as ``clif-util interpret``);
- `clifkit run FILE...` compiles the functions natively for the host and runs
  each line on the function it names (``clif-util run`` calls the one it
  follows); without the
  native engine it says so and exits with status 2;
- `clifkit compile FILE...` compiles each function natively and shows the size
  of its machine code, with a disassembly when the ``capstone`` package is
  installed (``pip install 'clifkit[disasm]'``).

The first two print as `clifkit test` does and end with the same summary line.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any, Callable, Optional


def add_harness_options(p: argparse.ArgumentParser) -> None:
    """Options of every command that runs run lines: selection, parallelism, reports, output."""
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        metavar="N",
        help="run N files at a time, each in its own process (default: the number of cores)",
    )
    p.add_argument(
        "-k",
        dest="keyword",
        metavar="PATTERN",
        help="run only the items whose name matches: a substring, or an expression of words with "
        "and/or/not, as pytest's -k (names: 'file.clif::%%f(1, 2)[interpreter]')",
    )
    p.add_argument(
        "-x", "--fail-fast", action="store_true", help="stop at the first failed or erroneous run line"
    )
    p.add_argument("--junit-xml", metavar="FILE", help="write a JUnit XML report to FILE (for CI dashboards)")
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the output: auto (the default) on a terminal unless NO_COLOR is set",
    )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="FILE", help="CLIF files, or directories searched for *.clif")
    p.add_argument("-v", "--verbose", action="store_true", help="print every run line, not only failures")
    p.add_argument("--json", metavar="FILE", help="write a machine-readable report to FILE")
    add_harness_options(p)


def register(sub, add_limit_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add `run`, `interpret` and `compile` to the `clifkit` subcommands; `add_limit_options` adds
    the resource caps that `clifkit test` takes too."""
    p = sub.add_parser("run", help="run the run lines of CLIF files natively, as clif-util run")
    _add_run_options(p)
    add_limit_options(p)
    p.set_defaults(func=cmd_run, force_mode="run")

    p = sub.add_parser("interpret", help="run the run lines of CLIF files on the interpreter, as clif-util interpret")
    _add_run_options(p)
    add_limit_options(p)
    p.add_argument("--fuel", type=int, metavar="N", help="instructions the interpreter may execute per run line (default 10^9)")
    p.add_argument("--max-call-depth", type=int, metavar="N", help="deepest call nesting the interpreter allows")
    p.set_defaults(func=cmd_interpret, force_mode="interpret")

    p = sub.add_parser("compile", help="compile CLIF functions natively: machine code size and disassembly")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--target", metavar="ISA", help="the target to compile for, as on a `target` line "
                   "(default: the file's first for the host's architecture, else its first, else the host)")
    p.add_argument("--no-disasm", action="store_true", help="show sizes only")
    p.set_defaults(func=cmd_compile)


# -- run / interpret ---------------------------------------------------------------------------


def native_unavailable() -> Optional[str]:
    """Why native runs cannot happen here, or None."""
    from .runtest.engines import ENGINES

    engine = ENGINES.get("native")
    if engine is None:
        return "the native engine is not available in this clifkit"
    try:
        from .native.engine import NativeEngine, missing_requirements
    except ImportError:
        return None
    if isinstance(engine, NativeEngine):
        return missing_requirements(getattr(engine, "compiler", None))
    return None  # another native engine (a stand-in): it says for itself, when it opens


def cmd_run(args: argparse.Namespace) -> int:
    from .runtest.runner import main as run_tests

    why = native_unavailable()
    if why is not None:
        print(f"clifkit run: error: {why}; `clifkit interpret` runs the same lines on the interpreter", file=sys.stderr)
        return 2
    return run_tests(args)


def cmd_interpret(args: argparse.Namespace) -> int:
    from .runtest.runner import main as run_tests

    return run_tests(args)


# -- compile -------------------------------------------------------------------------------------


@dataclass
class CompiledFunction:
    """What `clifkit compile` shows of one function. A native engine that can compile offers
    ``compile(test_file, options, target=None, source=None)`` returning these (or objects or dicts
    with the same fields)."""

    name: str
    size: Optional[int] = None  # bytes of machine code
    code: Optional[bytes] = None  # the machine code itself, for a disassembly
    target: Optional[str] = None  # the ISA it was compiled for ("x86_64")
    address: int = 0  # where `code` starts (disassembly addresses)
    error: Optional[str] = None  # why it could not be compiled


def _field(obj: Any, name: str, default=None):
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def as_compiled(obj: Any) -> CompiledFunction:
    code = _field(obj, "code")
    size = _field(obj, "size")
    if size is None and code is not None:
        size = len(code)
    return CompiledFunction(
        name=_field(obj, "name", "?"),
        size=size,
        code=bytes(code) if code is not None else None,
        target=_field(obj, "target"),
        address=_field(obj, "address", 0) or 0,
        error=_field(obj, "error"),
    )


CAPSTONE_ARCHES = {
    "x86_64": ("CS_ARCH_X86", "CS_MODE_64"),
    "aarch64": ("CS_ARCH_ARM64", "CS_MODE_ARM"),
    "riscv64": ("CS_ARCH_RISCV", "CS_MODE_RISCV64"),
    "s390x": ("CS_ARCH_SYSZ", "CS_MODE_BIG_ENDIAN"),
}


def disassemble(code: bytes, arch: str, address: int = 0) -> Optional[list[str]]:
    """The instructions of `code` as text lines, or None when no disassembler is installed for `arch`."""
    try:
        import capstone
    except ImportError:
        return None
    names = CAPSTONE_ARCHES.get(arch.split()[0] if arch else "")
    if names is None or not hasattr(capstone, names[0]):
        return None
    md = capstone.Cs(getattr(capstone, names[0]), getattr(capstone, names[1]))
    lines = []
    end = address
    for insn in md.disasm(code, address):
        raw = insn.bytes.hex(" ")
        lines.append(f"  {insn.address:6x}:  {raw:<30} {insn.mnemonic} {insn.op_str}".rstrip())
        end = insn.address + insn.size
    if end < address + len(code):
        lines.append(f"  {end:6x}:  ({address + len(code) - end} bytes not decoded)")
    return lines


def _host_target() -> str:
    try:
        from .native.engine import host_arch

        return host_arch()
    except ImportError:
        import platform

        return platform.machine().lower()


def _compile_with_lowering(tf, target: Optional[str]) -> list[CompiledFunction]:
    """Compile `tf` in this process with the native engine's lowering (no code runs): each
    function's machine code size, and its bytes as the JIT placed them. Only for the host's
    architecture. Raises ImportError when the lowering is not there, anything else when it fails."""
    import ctypes

    from .native.lower import compile_module, host_arch
    from .native.worker import host_symbols

    arch = (target or host_arch()).split()[0]
    if arch != host_arch():
        raise RuntimeError(f"the host ({host_arch()}) cannot compile for {arch} here")
    features = {}
    for word in (target or "").split()[1:]:
        name, eq, value = word.partition("=")
        features[name] = value if eq else "true"
    module = compile_module([d.function for d in tf.functions], triple=None, features=features,
                            host_symbols=host_symbols())
    out = [CompiledFunction(name, error=reason) for name, reason in module.unsupported.items()]
    for name in module.functions():
        if name in module.unsupported:
            continue
        size = module.code_size(name)
        code = ctypes.string_at(module.address(name), size) if size else None
        out.append(CompiledFunction(name, size=size, code=code, target=arch, address=0))
    return out


def _ir_summary(details) -> str:
    f = details.function
    insts = sum(len(b.insts) for b in f.blocks.values())
    return f"{len(f.blocks)} block{'s' if len(f.blocks) != 1 else ''}, {insts} instruction{'s' if insts != 1 else ''}"


def cmd_compile(args: argparse.Namespace) -> int:
    from .diagnostics import ClifError
    from .reader import parse_file
    from .runtest.engines import ENGINES, EngineOptions, EngineUnavailable

    status = 0
    native = ENGINES.get("native")
    why = native_unavailable()
    compile_fn = getattr(native, "compile", None) if native is not None else None
    missing: Optional[str] = None
    if why is not None:
        missing = why
    elif compile_fn is None:
        compile_fn = _lowering_compile_fn()
        if compile_fn is None:
            missing = "the native engine does not offer its machine code yet (no `compile` on its engine)"
    have_disasm = _capstone_available()
    disasm_note_shown = False
    for path in args.files:
        try:
            tf = parse_file(path)
        except ClifError as e:
            print(e.format(), file=sys.stderr)
            status = 1
            continue
        targets = [" ".join(s.words) for s in tf.isa_specs if s.kind == "target" and s.words]
        host = _host_target()
        on_host = [t for t in targets if t.split()[0] == host]
        target = args.target or (on_host or targets or [None])[0]
        shown_target = target or f"{_host_target()} (host)"
        print(f"{path}: target {shown_target}")
        compiled: dict[str, CompiledFunction] = {}
        file_missing = missing
        if file_missing is None and compile_fn is not None:
            try:
                source = None
                try:
                    with open(path, encoding="utf-8") as f:
                        source = f.read()
                except OSError:
                    pass
                for obj in compile_fn(tf, EngineOptions(), target, source) or ():
                    got = as_compiled(obj)
                    compiled[got.name] = got
            except EngineUnavailable as e:
                file_missing = str(e)
            except Exception as e:  # an engine bug: say so, never a traceback
                file_missing = f"internal error in the native engine: {type(e).__name__}: {e}"
        for details in tf.functions:
            name = details.function.name
            c = compiled.get(name)
            if c is None:
                print(f"  {name}: {_ir_summary(details)}; machine code: not available")
                continue
            if c.error:
                print(f"  {name}: cannot compile: {c.error}")
                status = 1
                continue
            size = f"{c.size} bytes" if c.size is not None else "size unknown"
            print(f"  {name}: {size} of machine code ({_ir_summary(details)})")
            if args.no_disasm:
                continue
            if c.code is None:
                print("    (no disassembly: the native engine gives sizes but not the code bytes)")
                continue
            lines = disassemble(c.code, c.target or target or _host_target(), c.address) if have_disasm else None
            if lines is None:
                if not disasm_note_shown:
                    reason = ("install capstone for a disassembly: pip install 'clifkit[disasm]'" if not have_disasm
                              else f"capstone cannot disassemble {c.target or target}")
                    print(f"    ({reason})")
                    disasm_note_shown = True
                continue
            for line in lines:
                print(line)
        if file_missing is not None:
            print(f"clifkit compile: error: {path}: no machine code: {file_missing}", file=sys.stderr)
            status = 1
    return status


def _lowering_compile_fn():
    """`compile` through the native lowering (`_compile_with_lowering`), when it can be imported."""
    import importlib

    try:
        for module in ("clifkit.native.lower", "clifkit.native.worker"):
            importlib.import_module(module)
    except Exception:  # not there, or not importable in this state of the code
        return None

    def compile_fn(tf, options, target, source):
        try:
            return _compile_with_lowering(tf, target)
        except Exception as e:
            from .runtest.engines import EngineUnavailable

            raise EngineUnavailable(f"the native lowering could not compile the file: {type(e).__name__}: {e}") from None

    return compile_fn


def _capstone_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("capstone") is not None
