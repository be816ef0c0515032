"""`clifkit run`, `clifkit interpret`, `clifkit compile`: clif-util's everyday commands, and the
options that `clifkit test` shares with the first two.

- `clifkit interpret FILE...` runs every ``; run:`` / ``; print:`` line on the
  interpreter, calling the function each line names, whatever the file's
  ``test`` lines say (as ``clif-util interpret``);
- `clifkit run FILE...` compiles the functions natively for the host and runs
  each line on the function it names (``clif-util run`` calls the one it
  follows); as ``clif-util run``, with the flags of the file's target line for
  the host's architecture, and not at all for a file whose target lines all
  name others (its lines are skipped, saying so); without the
  native engine it says so and exits with status 2;
- `clifkit compile FILE...` compiles each function natively and shows the size
  of its machine code, with a disassembly when the ``capstone`` package is
  installed (``pip install 'clifkit[disasm]'``), for any target clifkit runs
  (foreign ones in their emulated worker);
- `clifkit lower FILE...` prints each function as clifkit hands it to
  Cranelift, after its own legalization of heaps, tables, global values and
  implicit traps, with the decisions it took (bounds checks kept or elided).

The first two print as `clifkit test` does and end with the same summary line.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any, Optional

from .arguments import add_dialect_options, add_harness_options, add_limit_options, add_settings_option, each_parsed


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="FILE", help="CLIF files, or directories searched for *.clif")
    p.add_argument("-v", "--verbose", action="store_true", help="print every run line, not only failures")
    p.add_argument("--json", metavar="FILE", help="write a machine-readable report to FILE")
    add_harness_options(p)


def register(sub) -> None:
    """Add `run`, `interpret` and `compile` to the `clifkit` subcommands (with the resource caps
    that `clifkit test` takes too: `arguments.add_limit_options`)."""
    p = sub.add_parser("run", help="run the run lines of CLIF files natively, as clif-util run")
    _add_run_options(p)
    add_limit_options(p)
    add_settings_option(p)
    add_dialect_options(p)
    p.set_defaults(func=cmd_run, force_mode="run")

    p = sub.add_parser("interpret", help="run the run lines of CLIF files on the interpreter, as clif-util interpret")
    _add_run_options(p)
    add_limit_options(p)
    add_dialect_options(p, run_calls=False)  # `clifkit interpret` calls what each line names, as clif-util
    p.add_argument("--fuel", type=int, metavar="N", help="instructions the interpreter may execute per run line (default 10^9)")
    p.add_argument("--max-call-depth", type=int, metavar="N", help="deepest call nesting the interpreter allows")
    p.add_argument("--trace", action="store_true",
                   help="print every instruction each run line executes, with its operand and result values "
                   "(and the address of each load and store); runs one file at a time")
    p.add_argument("--trace-limit", type=int, default=10_000, metavar="N",
                   help="trace at most N instructions per run line (default 10000); the rest are counted")
    p.set_defaults(func=cmd_interpret, force_mode="interpret")

    p = sub.add_parser("compile", help="compile CLIF functions natively: machine code size and disassembly")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--target", metavar="ISA", help="the target to compile for, as on a `target` line "
                   "(default: the file's first for the host's architecture, else its first, else the host)")
    p.add_argument("--no-disasm", action="store_true", help="show sizes only")
    add_settings_option(p)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("lower", help="show the CLIF clifkit hands to Cranelift after its own legalization")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--target", metavar="ISA", help="the target to lower for, as for `clifkit compile`")
    add_settings_option(p)
    p.set_defaults(func=cmd_lower)


# -- run / interpret ---------------------------------------------------------------------------


def native_unavailable() -> Optional[str]:
    """Why native runs cannot happen here, or None."""
    from .runtest.engines import ENGINES

    engine = ENGINES.get("native")
    if engine is None:
        return "the native engine is not available in this clifkit"
    from .native.engine import NativeEngine, missing_requirements  # loaded: `engine` is here

    if isinstance(engine, NativeEngine):
        return missing_requirements(getattr(engine, "compiler", None))
    return None  # another native engine (a stand-in): it says for itself, when it opens


def cmd_run(args: argparse.Namespace) -> int:
    from .runtest.command import main as run_tests

    why = native_unavailable()
    if why is not None:
        print(f"clifkit run: error: {why}; `clifkit interpret` runs the same lines on the interpreter", file=sys.stderr)
        return 2
    return run_tests(args)


def cmd_interpret(args: argparse.Namespace) -> int:
    from .runtest.command import main as run_tests

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


def _ir_summary(details) -> str:
    f = details.function
    insts = sum(len(b.insts) for b in f.blocks.values())
    return f"{len(f.blocks)} block{'s' if len(f.blocks) != 1 else ''}, {insts} instruction{'s' if insts != 1 else ''}"


def _file_target(tf, wanted: Optional[str]) -> Optional[str]:
    """The target to compile a file for: `wanted`, else the file's first for the host's
    architecture, else its first, else None (the host)."""
    if wanted:
        return wanted
    targets = [" ".join(s.words) for s in tf.isa_specs if s.kind == "target" and s.words]
    from .native.host import host_arch

    on_host = [t for t in targets if t.split()[0] == host_arch()]
    return (on_host or targets or [None])[0]


def _native_results(tf, target: Optional[str], method: str, settings=()) -> tuple[dict, Optional[str]]:
    """Ask the native engine's `method` ("compile" or "lower") about a file: results by function
    name, and why there are none (or None)."""
    from .runtest.engines import ENGINES
    from .engine import EngineOptions, EngineUnavailable

    why = native_unavailable()
    if why is not None:
        return {}, why
    fn = getattr(ENGINES.get("native"), method, None)
    if fn is None:
        return {}, f"the native engine here cannot {method}"
    try:
        options = EngineOptions(settings=tuple(settings or ()))
        return {as_compiled(obj).name: obj for obj in fn(tf, options, target, tf.source) or ()}, None
    except EngineUnavailable as e:
        return {}, str(e)
    except Exception as e:  # an engine bug: say so, never a traceback
        return {}, f"internal error in the native engine: {type(e).__name__}: {e}"


def _native_files(args: argparse.Namespace, what: str, prefix: str = ""):
    """For `clifkit compile` and `clifkit lower`: per file, (path, test file, target, results,
    why there are none) after printing its target line; the test file is None when it did not
    parse (the reader has said why)."""
    from .native.host import host_arch

    for path, tf in each_parsed(args.files):
        if tf is None:
            yield path, None, None, {}, None
            continue
        target = _file_target(tf, args.target)
        print(f"{prefix}{path}: target {target or f'{host_arch()} (host)'}")
        found, missing = _native_results(tf, target, what, args.settings)
        yield path, tf, target, found, missing


def cmd_compile(args: argparse.Namespace) -> int:
    from .native.host import host_arch

    status = 0
    have_disasm = _capstone_available()
    disasm_note_shown = False
    for path, tf, target, found, file_missing in _native_files(args, "compile"):
        if tf is None:
            status = 1
            continue
        compiled = {name: as_compiled(obj) for name, obj in found.items()}
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
            lines = disassemble(c.code, c.target or target or host_arch(), c.address) if have_disasm else None
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


def cmd_lower(args: argparse.Namespace) -> int:
    """Print each function as clifkit hands it to Cranelift, with the decisions its lowering took."""
    status = 0
    for path, tf, target, found, missing in _native_files(args, "lower", "; "):
        if tf is None:
            status = 1
            continue
        if missing is not None:
            print(f"clifkit lower: error: {path}: {missing}", file=sys.stderr)
            status = 1
            continue
        for details in tf.functions:
            name = details.function.name
            got = found.get(name) or {"error": "not lowered"}
            if got.get("error"):
                print(f"; {name}: cannot lower: {got['error']}\n")
                status = 1
                continue
            print(got["listing"], end="")
            decisions = got.get("decisions") or []
            print(f"; {name}: {len(decisions)} decision{'s' if len(decisions) != 1 else ''} of the lowering")
            for d in decisions:
                print(f";   {d}")
            print()
    return status


def _capstone_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("capstone") is not None
