"""Workarounds for gaps in the ``cranelift-py`` binding (0.1.0), kept in one place.

The binding's stubs describe ``IntCC``, ``FloatCC``, ``AtomicRmwOp``,
``Endianness`` and ``AliasRegion`` (and accept ``UserExternalNameRef``), but
the module does not export them, although ``ins_icmp``, ``ins_fcmp``,
``ins_atomic_rmw`` and the memory-flag setters need them. Their type objects
come into existence inside the extension the first time an argument of that
type is converted, even when the conversion fails; after provoking such a
failure, ``gc.get_objects()`` finds the class by name.

`binding_type(name)` returns the class, preferring a real export, so the day a
fixed binding exports it nothing here needs to change; `missing_exports()`
tells which ones are still recovered (tests/test_native_lower.py watches it).
"""

from __future__ import annotations

import functools
import gc
from typing import Callable, Optional

import cranelift as cl

# The names the stubs promise but 0.1.0 does not export.
RECOVERED = ("IntCC", "FloatCC", "AtomicRmwOp", "Endianness", "AliasRegion", "UserExternalNameRef")

_cache: dict[str, type] = {}


def _provokers() -> dict[str, Callable[[], object]]:
    """For each name: a call that makes the binding convert a bad argument to that type."""

    def with_value(fn):
        def run():
            b = cl.FunctionBuilder()
            block = b.create_block()
            b.switch_to_block(block)
            x = b.ins_iconst(cl.Type.I32, 0)
            fn(b, x)

        return run

    return {
        "IntCC": with_value(lambda b, x: b.ins_icmp(None, x, x)),
        "FloatCC": with_value(lambda b, x: b.ins_fcmp(None, x, x)),
        "AtomicRmwOp": with_value(lambda b, x: b.ins_atomic_rmw(cl.Type.I32, cl.MemFlags(), None, x, x)),
        "Endianness": lambda: cl.MemFlags().set_endianness(0),
        "AliasRegion": lambda: cl.MemFlags().set_alias_region(0),
        "UserExternalNameRef": lambda: cl.FunctionBuilder().import_function(
            0, cl.FunctionBuilder().import_signature(cl.Signature(cl.CallConv.Fast))
        ),
    }


_MODULES = ("builtins", "cranelift", "cranelift.cranelift")  # where the extension's classes say they live


def _find(name: str) -> Optional[type]:
    for obj in gc.get_objects():
        if isinstance(obj, type) and obj.__name__ == name and obj.__module__ in _MODULES:
            return obj
    return None


def binding_type(name: str) -> type:
    """The binding's class `name` (``IntCC``...): its export if it has one, else recovered."""
    found = _cache.get(name)
    if found is not None:
        return found
    found = getattr(cl, name, None)
    if not isinstance(found, type):
        found = None
        provoke = _provokers().get(name)
        if provoke is None:
            raise AttributeError(f"cranelift binding has no type {name!r}")
        try:
            provoke()
        except TypeError:
            pass  # expected: the failed conversion is what registers the type
        found = _find(name)
        if found is None:
            raise AttributeError(f"cannot recover the binding's type {name!r}")
    _cache[name] = found
    return found


def missing_exports() -> list[str]:
    """The names of `RECOVERED` the installed binding still fails to export."""
    return [n for n in RECOVERED if not isinstance(getattr(cl, n, None), type)]


# -- the mappings the lowering uses ------------------------------------------

_INTCC = {
    "eq": "Equal", "ne": "NotEqual", "slt": "SignedLessThan", "sge": "SignedGreaterThanOrEqual",
    "sgt": "SignedGreaterThan", "sle": "SignedLessThanOrEqual", "ult": "UnsignedLessThan",
    "uge": "UnsignedGreaterThanOrEqual", "ugt": "UnsignedGreaterThan", "ule": "UnsignedLessThanOrEqual",
}  # fmt: skip
_FLOATCC = {
    "ord": "Ordered", "uno": "Unordered", "eq": "Equal", "ne": "NotEqual", "one": "OrderedNotEqual",
    "ueq": "UnorderedOrEqual", "lt": "LessThan", "le": "LessThanOrEqual", "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual", "ult": "UnorderedOrLessThan", "ule": "UnorderedOrLessThanOrEqual",
    "ugt": "UnorderedOrGreaterThan", "uge": "UnorderedOrGreaterThanOrEqual",
}  # fmt: skip


@functools.cache  # (a few names, looked up for every comparison lowered)
def intcc(cond: str):
    return getattr(binding_type("IntCC"), _INTCC[cond])


@functools.cache
def floatcc(cond: str):
    return getattr(binding_type("FloatCC"), _FLOATCC[cond])


def atomic_rmw_op(op: str):
    return getattr(binding_type("AtomicRmwOp"), op.capitalize())
