"""Shared helpers of the verifier: target facts, type-set descriptions, wording."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir.function import TestFile
from ..ir.opcodes import TypeVar
from ..ir.types import FLOAT_BITS, I32, I64, INT_BITS, MAX_LANES, Type

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Iterable, Optional

# -- targets ---------------------------------------------------------------


@dataclass(frozen=True)
class TargetInfo:
    """What the verifier knows of the targets a function is verified for.

    `pointers` holds one (target name, pointer type) pair per distinct pointer
    width among those targets: a function must be valid for each. `addresses`
    says whether the address operands of loads and stores, and the results of
    `global_value` (and `symbol_value`, `tls_value`) of pointer-sized global
    values, are checked against those widths; Cranelift does so only when it
    verifies for a particular target, not for interpret-only files without a
    single target. `flags`
    holds the boolean settings (``set`` lines) turned on for every target.
    """

    pointers: tuple[tuple[str, Type], ...] = (("default", I64),)
    flags: frozenset[str] = frozenset()
    addresses: bool = True


_POINTER_BITS = {
    "x86_64": 64, "aarch64": 64, "s390x": 64, "riscv64": 64, "pulley64": 64, "pulley64be": 64,
    "pulley32": 32, "pulley32be": 32, "riscv32": 32, "i686": 32, "x86": 32, "arm": 32,
}  # fmt: skip
# Architectures Cranelift's filetests name in `target` lines, from the heap era to today (i686,
# riscv32 and arm in files of its old 32-bit backends), and target-lexicon's other spellings of
# those Cranelift 0.120 builds (arm64, aarch64_be, riscv64imac); any other first word is a typo
# that would leave every `test run` line of the file skipped.
KNOWN_ARCHES = ("x86_64", "aarch64", "s390x", "riscv64", "riscv64gc", "riscv32", "i686",
                "pulley32", "pulley64", "pulley32be", "pulley64be", "arm", "arm64", "aarch64_be", "riscv64imac")
_TRUE = ("", "true", "1", "yes", "on")
# Test commands that compile for each target (Cranelift verifies them once per target);
# the others (interpret, cat, verifier, ...) are verified once, for the file's target
# if it names exactly one.
ISA_TESTS = frozenset({"run", "compile", "legalizer", "optimize", "unwind"})


def _pointer_type(isa: str) -> Type:
    arch = isa.split("-")[0]
    bits = _POINTER_BITS.get(arch, 32 if "32" in arch else 64)
    return I64 if bits == 64 else I32


def target_info(tf: TestFile) -> TargetInfo:
    """The targets a file's functions are verified for, from its ``test``, ``target`` and ``set`` lines.

    Like Cranelift, a file is verified once per target for the tests that
    compile (``test run``, ...), and once for the others, with the file's
    target if it names exactly one. Without a particular target the pointer
    types are those of all the file's targets, or i64 when it names none.
    """
    targets: list[tuple[str, Type, frozenset[str]]] = []
    flags: dict[str, bool] = {}
    for spec in tf.isa_specs:
        if spec.kind == "target" and spec.words:
            enabled = frozenset(k for k, v in flags.items() if v)
            targets.append((spec.words[0], _pointer_type(spec.words[0]), enabled))
        elif spec.kind == "set":
            for word in spec.words:
                name, _, value = word.partition("=")
                flags[name] = value.strip().lower() in _TRUE
    cumulative = frozenset(k for k, v in flags.items() if v)
    if not targets:
        return TargetInfo(TargetInfo.pointers, cumulative, addresses=False)
    names = {c.name for c in tf.commands}
    chosen = list(targets) if names & ISA_TESTS else []
    if (not names or names - ISA_TESTS) and len(targets) == 1:
        chosen.append(targets[0])
    pointers: list[tuple[str, Type]] = []
    for name, ptr, _ in chosen or targets:
        if all(p is not ptr for _, p in pointers):
            pointers.append((name, ptr))
    enabled = frozenset.intersection(*(f for _, _, f in chosen)) if chosen else cumulative
    return TargetInfo(tuple(pointers), enabled, addresses=bool(chosen))


# -- type sets ---------------------------------------------------------------

_DESCRIPTIONS: dict[TypeVar, str] = {}


def type_in(tv: TypeVar, ty: Type) -> bool:
    return tv.contains(ty)  # (remembered by the type variable)


def describe(tv: TypeVar) -> str:
    """A short human description of a type variable's set, such as ``i32 or i64``."""
    text = _DESCRIPTIONS.get(tv)
    if text is not None:
        return text
    members = []
    for kind, all_bits in (("i", INT_BITS), ("f", FLOAT_BITS)):
        for bits in all_bits:
            lanes = 1
            while lanes <= MAX_LANES:
                for dyn in (False, True) if lanes > 1 else (False,):
                    ty = Type.get(kind, bits, lanes, dyn)
                    if tv.contains(ty):
                        members.append(ty)
                lanes *= 2
    if not members:
        text = "no type at all"
    elif len(members) <= 4:
        text = ", ".join(map(str, members[:-1])) + (" or " if len(members) > 1 else "") + str(members[-1])
    else:
        scalars = [str(t) for t in members if t.is_scalar]
        kinds = {t.kind for t in members}
        noun = "integer" if kinds == {"i"} else "float" if kinds == {"f"} else "integer or float"
        if scalars:
            text = "one of " + ", ".join(scalars)
            if any(t.is_vector for t in members):
                text += " or a vector of such lanes"
        else:
            lane_names = sorted({str(t.lane_type) for t in members}, key=lambda s: (s[0] != "i", int(s[1:])))
            text = f"{'an' if noun[0] == 'i' else 'a'} {noun} vector with {'/'.join(lane_names)} lanes"
    _DESCRIPTIONS[tv] = text
    return text


def related(relation: str, ty: Type, ctrl: Type) -> bool:
    """Is `ty` strictly narrower (or wider) than `ctrl`, a scalar of the same kind?"""
    if ty.is_vector or ctrl.is_vector or ty.kind != ctrl.kind:
        return False
    return ty.lane_bits < ctrl.lane_bits if relation == "narrower" else ty.lane_bits > ctrl.lane_bits


def fits(value: int, bits: int, signed: bool = True, unsigned: bool = True) -> bool:
    """Does `value` fit in `bits` bits, read as signed and/or unsigned?"""
    lo = -(1 << (bits - 1)) if signed else 0
    hi = (1 << bits) - 1 if unsigned else (1 << (bits - 1)) - 1
    return lo <= value <= hi


def plural(count: int, singular: str, other: Optional[str] = None) -> str:
    """``1 argument``, ``2 arguments``; with `other`, the count and a verb (``1 is``, ``2 are``)."""
    if other is None:
        other = singular + "s"
    return f"{count} {singular if count == 1 else other}"


def sig_text(params: Iterable, returns: Iterable) -> str:
    """``(i32, i64) -> i8``: the types of a signature's parameters and returns."""
    ps = ", ".join(str(p.type) for p in params)
    rs = ", ".join(str(r.type) for r in returns)
    return f"({ps})" + (f" -> {rs}" if rs else "")


TAIL_CALL_CONVS = ("tail",)
# Cranelift's `supports_exceptions` as of wasmtime v48 (0.120 had tail and system_v only), and the
# conventions among them whose exceptions carry no payload (`exception_payload_types`).
EXCEPTION_CALL_CONVS = ("tail", "system_v", "winch", "preserve_all", "apple_aarch64")
NO_EXCEPTION_PAYLOADS = ("winch",)
