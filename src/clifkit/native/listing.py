"""What clifkit hands to Cranelift, written down as CLIF: `clifkit lower`.

The native lowering builds each function through cranelift-py's
``FunctionBuilder``, which cannot print what it holds. `RecordingBuilder`
stands in for it: every call goes to a real builder, and every instruction,
block, block parameter and stack slot asked for is also written down in CLIF
syntax, with the builder's own value and block numbers. The text is the
function after clifkit's legalization (heaps, tables, global values, implicit
traps made explicit, byte-order rewrites) and before Cranelift's own passes.
"""

from __future__ import annotations

from typing import Any

import cranelift as cl

from ..ir.immediates import FLOATCC, INTCC
from .compat import floatcc, intcc

_COND_NAMES = {str(intcc(name)): name for name in INTCC}
_COND_NAMES.update({str(floatcc(name)): name for name in FLOATCC})


def _memflags(mf) -> str:
    words = []
    for word in ("notrap", "aligned", "readonly", "can_move", "checked"):
        if getattr(mf, word)():
            words.append(word)
    if mf.explicit_endianness() is not None:
        words.append(str(mf.explicit_endianness()).lower())
    return " ".join(words) or "(trapping)"


def _operand(x: Any) -> str:
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return hex(x) if not -256 < x < 256 else str(x)
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_operand(a) for a in x) + "]"
    if isinstance(x, cl.Type):
        return str(x).lower()
    if isinstance(x, cl.MemFlags):
        return _memflags(x)
    text = str(x)
    if text.startswith("<"):
        return type(x).__name__
    return _COND_NAMES.get(text, text)


class RecordingBuilder:
    """A cranelift-py ``FunctionBuilder`` that also keeps a CLIF listing of what it was asked to build."""

    def __init__(self) -> None:
        object.__setattr__(self, "builder", cl.FunctionBuilder())
        object.__setattr__(self, "preamble", [])  # stack slots, imported signatures and functions
        object.__setattr__(self, "blocks", {})  # block text -> [lines], in the order first switched to
        object.__setattr__(self, "params", {})  # block text -> [(value, type)]
        object.__setattr__(self, "cold", set())
        object.__setattr__(self, "current", None)
        object.__setattr__(self, "source", lambda: None)  # the CLIF instruction being lowered now
        object.__setattr__(self, "last_source", None)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.builder, name, value)  # func_signature

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.builder, name)
        if name.startswith("ins_"):
            return lambda *args: self._instruction(name[4:], attr, args)
        hook = getattr(self, "_on_" + name, None)
        if hook is None:
            return attr
        return lambda *args: hook(attr, *args)

    # -- what is recorded -------------------------------------------------------------------

    def _instruction(self, opcode: str, call, args: tuple):
        result = call(*args)
        source = self.source()
        if source is not None and source != self.last_source:
            object.__setattr__(self, "last_source", source)
            self.blocks.setdefault(self.current, []).append(f"; {source}")
        if isinstance(result, cl.Value):
            defined = [result]
        elif isinstance(result, cl.Inst):
            defined = list(self.builder.inst_results(result))
        elif isinstance(result, (list, tuple)):
            defined = [r for r in result if isinstance(r, cl.Value)]
        else:
            defined = []
        lhs = ", ".join(str(v) for v in defined)
        text = f"{lhs} = {opcode}" if lhs else opcode
        if args:
            text += " " + ", ".join(_operand(a) for a in args)
        self.blocks.setdefault(self.current, []).append(text)
        return result

    def _on_switch_to_block(self, call, block) -> None:
        object.__setattr__(self, "current", str(block))
        self.blocks.setdefault(str(block), [])
        return call(block)

    def _on_append_block_param(self, call, block, ty):
        value = call(block, ty)
        self.params.setdefault(str(block), []).append((str(value), _operand(ty)))
        return value

    def _on_set_cold_block(self, call, block):
        self.cold.add(str(block))
        return call(block)

    def _on_create_sized_stack_slot(self, call, size, align_shift):
        slot = call(size, align_shift)
        self.preamble.append(f"{slot} = explicit_slot {size}, align = {1 << align_shift}")
        return slot

    def _on_import_function(self, call, name, sig):
        ref = call(name, sig)
        self.preamble.append(f"{ref} = {_operand(name)}")
        return ref

    # -- the listing ---------------------------------------------------------------------------

    def listing(self, name: str, signature: str) -> str:
        lines = [f"function {name}{signature} {{"]
        lines += [f"    {p}" for p in self.preamble]
        for block, insts in self.blocks.items():
            params = self.params.get(block, [])
            head = block + (f"({', '.join(f'{v}: {t}' for v, t in params)})" if params else "")
            lines.append("")
            lines.append(head + (" cold" if block in self.cold else "") + ":")
            lines += [f"    {text}" for text in insts]
        lines.append("}")
        return "\n".join(lines) + "\n"


def lowering_listing(module, name: str) -> tuple[str, list[str]]:
    """The CLIF that clifkit hands to Cranelift for `name` of a compiled `module`
    (`clifkit.native.lower.NativeModule`), and the decisions its lowering took: bounds checks
    emitted or elided, implicit traps made explicit, workarounds."""
    from ..printer import format_signature, instruction_texts
    from .translate import FunctionLowering

    func = module._get(name).func
    texts = instruction_texts(func)
    recorder = RecordingBuilder()
    lowering = FunctionLowering(module.ctx, func, builder=recorder)

    def source():
        inst = lowering.inst
        if inst is None:
            return None
        where = f"line {inst.loc.line}: " if inst.loc is not None else ""
        return where + texts[id(inst)]

    object.__setattr__(recorder, "source", source)
    decisions: list[str] = []

    class Located(list):
        """The report's checks, each noted with the instruction it was emitted for."""

        def append(self, check) -> None:
            super().append(check)
            said = f"{c_kind(check)}: {check.detail}" + (f" (traps {check.code})" if check.code else "")
            at = source()
            decisions.append(f"{at}: {said}" if at else said)

    lowering.report.checks = Located()
    lowering.run()
    decisions += [f"workaround: {w}" for w in sorted(lowering.report.workarounds)]
    return recorder.listing(name, format_signature(func.signature)), decisions


_KINDS = {
    "heap_bound": "bounds check kept",
    "heap_elided": "bounds check elided: the index cannot reach past the bound and guard",
    "heap_always_traps": "always traps: the access ends past the bound",
    "table_bound": "table bounds check",
}


def c_kind(check) -> str:
    return _KINDS.get(check.kind, check.kind)
