"""IR → canonical CLIF text, close to Cranelift's own printer (``codegen/src/write.rs``).

Layout: preamble entities and instructions indented by four spaces, a blank
line before each block, block headers at column 0, value aliases (``v3 -> v1``)
right after the definition of the value they name. An instruction carries a
``.T`` suffix unless the reader can infer it back from its typevar operand,
which requires that operand to be defined earlier in the same block and to
have exactly that type (Cranelift's rule, made safe for ill-typed input).

Nothing the reader keeps is dropped: comments go back next to what they were
attached to, directives after their function, heap-era syntax in the form it
was read. Printing is a fixpoint: reading the output and printing it again
gives the same text.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from typing import Callable, Optional

from .ir.entities import GlobalValueData, HeapData, TableData
from .ir.function import AbiParam, Block, BlockCall, Directive, ExternalName, Function, Inst, Signature, TestFile
from .ir.try_call import ExceptionTableData
from .ir.types import I32, Type
from .ir.floats import format_float
from .ir.numbers import HexBytes, format_hex_bytes, format_imm, format_offset, sign_extend, write_hex

INDENT = "    "
_USER_NAME = re.compile(r"u[0-9]+:[0-9]+")


# -- files ------------------------------------------------------------------------


def format_test_file(tf: TestFile) -> str:
    """The whole file: header lines, preamble comments, then each function and its trailer."""
    out: list[str] = []
    for cmd in tf.commands:
        out.extend(cmd.comments_before)
        out.append(_with_comment(" ".join(["test", cmd.name, *cmd.options]), cmd.comment))
    for spec in tf.isa_specs:
        out.extend(spec.comments_before)
        out.append(_with_comment(" ".join([spec.kind, *spec.words]), spec.comment))
    out.extend(tf.preamble_comments)
    for details in tf.functions:
        if out:
            out.append("")
        out.extend(details.comments_before)
        out.append(format_function(details.function).rstrip("\n"))
        out.extend(_trailer_line(item) for item in details.trailer)
    return "\n".join(out) + "\n" if out else ""


def _trailer_line(item: Directive | str) -> str:
    if isinstance(item, str):
        return item
    if not item.text and item.kind in ("run", "print"):
        return f"; {item.kind}"
    return f"; {item.kind}: {item.text}".rstrip()


def _with_comment(line: str, comment: Optional[str]) -> str:
    return f"{line}  {comment}" if comment else line


# -- signatures and entities ----------------------------------------------------------


def format_abi_param(p: AbiParam) -> str:
    return " ".join(x for x in (str(p.type), p.extension, p.purpose) if x)


def format_signature(sig: Signature) -> str:
    """``(i32, i64 vmctx) -> i32 tail`` (the convention only when the text named one)."""
    text = "(" + ", ".join(map(format_abi_param, sig.params)) + ")"
    if sig.returns:
        text += " -> " + ", ".join(map(format_abi_param, sig.returns))
    if sig.call_conv_written:
        text += " " + sig.call_conv
    return text


def _flags(flags) -> str:
    text = str(flags) if flags is not None else ""
    return " " + text if text else ""


def format_global_value(gv: GlobalValueData) -> str:
    if gv.kind == "load":
        return f"load.{gv.type}{_flags(gv.flags)} gv{gv.base}{format_offset(gv.offset)}"
    if gv.kind == "iadd_imm":
        return f"iadd_imm.{gv.type} gv{gv.base}, {format_imm(gv.offset)}"
    if gv.kind == "symbol":
        words = ["symbol"] + ["colocated"] * gv.colocated + ["tls"] * gv.tls + [str(gv.name)]
        offset = "+" + format_imm(gv.offset) if gv.offset > 0 else format_imm(gv.offset) if gv.offset else ""
        return " ".join(words) + offset
    if gv.kind == "dyn_scale_target_const":
        return f"dyn_scale_target_const.{gv.vector_type}"
    return gv.kind


def format_heap(heap: HeapData) -> str:
    """Heap-era heap declaration, with its attributes in the order they were written."""
    values = {
        "min": format_imm(heap.min_size),
        "bound": f"gv{heap.bound}" if heap.style == "dynamic" else format_imm(heap.bound),
        "offset_guard": format_imm(heap.offset_guard),
        "index_type": str(heap.index_type),
    }
    order = heap.written or ("min", "bound", "offset_guard") + ("index_type",) * (heap.index_type is not None)
    return f"{heap.style} gv{heap.base}" + "".join(f", {a} {values[a]}" for a in order)


def format_table(table: TableData) -> str:
    values = {
        "min": format_imm(table.min_size),
        "bound": f"gv{table.bound}",
        "element_size": format_imm(table.element_size),
        "index_type": str(table.index_type),
    }
    order = table.written or (
        ("min",)
        + ("bound",) * (table.bound is not None)
        + ("element_size",)
        + ("index_type",) * (table.index_type is not None)
    )
    return f"dynamic gv{table.base}" + "".join(f", {a} {values[a]}" for a in order)


def _preamble(func: Function) -> list[tuple[str, str]]:
    """(key, definition text) of every preamble entity, in a fixed order of kinds and numbers."""
    inline = {f.signature for f in func.func_refs.values() if f.inline_signature}
    out: list[tuple[str, str]] = []
    for n, ss in sorted(func.stack_slots.items()):
        align = f", align = {ss.align}" if ss.align is not None else ""
        key = f", key = {format_imm(ss.key)}" if ss.key is not None else ""
        out.append((f"ss{n}", f"{ss.kind} {ss.size}{align}{key}"))
    for n, dss in sorted(func.dynamic_stack_slots.items()):
        out.append((f"dss{n}", f"{dss.kind} dt{dss.dynamic_type}"))
    for n, gv in sorted(func.global_values.items()):
        out.append((f"gv{n}", format_global_value(gv)))
    for n, mt in sorted(func.memory_types.items()):
        out.append((f"mt{n}", str(mt)))
    for n, dt in sorted(func.dynamic_types.items()):
        out.append((f"dt{n}", f"{dt.base_vector}*gv{dt.scale}"))
    for n, heap in sorted(func.heaps.items()):
        out.append((f"heap{n}", format_heap(heap)))
    for n, table in sorted(func.tables.items()):
        out.append((f"table{n}", format_table(table)))
    for n, (user_id, name) in sorted(func.alias_regions.items()):
        out.append((f"region{n}", f'{user_id} "{name}"'))
    for n, blocks in sorted(func.jump_tables.items()):
        out.append((f"jt{n}", "jump_table [" + ", ".join(f"block{b}" for b in blocks) + "]"))
    for n, sig in sorted(func.signatures.items()):
        if n not in inline:
            out.append((f"sig{n}", format_signature(sig)))
    for n, f in sorted(func.func_refs.items()):
        words = "colocated " * f.colocated + "patchable " * f.patchable + str(f.name)
        sig_text = format_signature(func.signatures[f.signature]) if f.inline_signature else f" sig{f.signature}"
        out.append((f"fn{n}", words + sig_text))
    for n, data in sorted(func.constants.items()):
        out.append((f"const{n}", format_hex_bytes(data)))
    if func.stack_limit is not None:
        out.append(("stack_limit", f"gv{func.stack_limit}"))
    return out


# -- functions ---------------------------------------------------------------------------


def format_function(func: Function) -> str:
    """One function, from ``function`` to the closing brace, ending with a newline."""
    return _FunctionWriter(func).write()


def format_function_as_cranelift(func: Function) -> str:
    """`func` as Cranelift's own printer (``write_function``) writes it, which ``test cat`` files
    check: every signature names its calling convention (``fast`` when the text named none), an
    inline signature (``fn8 = %bar(i32) -> i8``) is declared as the ``sigN`` the reader gave it,
    each instruction ends with the values of the constants it uses (``; v1 = 5``), and no comment
    is kept (Cranelift's IR has none). Not meant to be read back: the annotations would become
    comments. `func` is not changed."""
    return _FunctionWriter(_cranelift_view(func), annotate=True).write()


def _cranelift_view(func: Function) -> Function:
    view = copy.deepcopy(func)
    view.signature = replace(view.signature, call_conv_written=True)
    view.signatures = {n: replace(sig, call_conv_written=True) for n, sig in view.signatures.items()}
    for data in view.func_refs.values():
        data.inline_signature = False
    # A global value shows a user name by its entry in the function's table of user names
    # (``userextnameN``, numbered as the declarations first name them); a function reference
    # shows the name itself.
    line = {k: loc.line for k, loc in view.entity_locs.items() if loc is not None}
    named = [(line.get(f"gv{n}", 0), str(gv.name)) for n, gv in view.global_values.items() if gv.name is not None]
    named += [(line.get(f"fn{n}", 0), str(f.name)) for n, f in view.func_refs.items()]
    users = list(dict.fromkeys(text for _, text in sorted(named) if _USER_NAME.fullmatch(text)))
    for gv in view.global_values.values():
        if gv.name is not None and str(gv.name) in users:
            gv.name = ExternalName(f"userextname{users.index(str(gv.name))}")
    # Heap-era heaps and tables: every attribute, in Cranelift's order (index_type i32 unless written).
    for entity in (*view.heaps.values(), *view.tables.values()):
        entity.written, entity.index_type = (), entity.index_type or I32
    view.comment, view.end_comments = None, []
    view.entity_comments, view.entity_comments_before = {}, {}
    for block in view.blocks.values():
        block.comment, block.comments = None, []
        for inst in block.insts:
            inst.comment = inst.comments_before = None
    return view


def _constant_text(inst: Inst) -> Optional[str]:
    """The value a constant instruction defines, as Cranelift annotates its uses; None for others
    (and for a vconst written inline, which Cranelift would have numbered in its constant pool)."""
    fmt = inst.opcode.format.name
    if fmt == "UnaryImm":
        return _imm(inst)
    if fmt.startswith("UnaryIeee"):
        return format_float(inst.imm, int(fmt[9:]))
    if fmt == "UnaryConst" and inst.opcode.name == "f128const" and not isinstance(inst.imm, int):
        return format_float(int.from_bytes(inst.imm, "little"), 128)
    if fmt == "UnaryConst" and isinstance(inst.imm, int):
        return f"const{inst.imm}"
    return None


def block_header(func: Function, block: Block) -> str:
    """``block3(v4: i32, v5: i64) cold:``, as `format_function` writes it (without its comment)."""
    params = ", ".join(f"{_with_fact(func, v)}: {func.value_types[v]}" for v in block.params)
    return f"block{block.number}" + (f"({params})" if params else "") + (" cold" if block.cold else "") + ":"


def display_inst(inst: Inst, func: Optional[Function] = None) -> str:
    """An instruction as Cranelift's verifier quotes it (``DisplayInst``): its results, its opcode
    with the controlling type whenever the opcode has one, its operands, and (given the function
    it belongs to) the constants it uses."""
    head = ", ".join(f"v{v}" for v in inst.results) + " = " if inst.results else ""
    suffix = f".{inst.ctrl_type}" if inst.opcode.ctrl is not None and inst.ctrl_type is not None else ""
    notes = _FunctionWriter(func, annotate=True).annotation(inst) if func is not None else ""
    return head + inst.opcode.name + suffix + _OPERANDS[inst.opcode.format.name](inst) + notes


def _with_fact(func: Function, v: int) -> str:
    """``vN``, and its proof-carrying-code fact if it has one (``v1 ! range(8, 0x0, 0xff)``)."""
    fact = func.facts.get(v)
    return f"v{v}" if fact is None else f"v{v} ! {fact}"


def instruction_texts(func: Function) -> dict[int, str]:
    """Each instruction of `func` (by ``id``) as `format_function` writes it, type suffix and
    all, without its comment (for `clifkit cfg`, `lower` and `interpret --trace`)."""
    writer = _FunctionWriter(func)
    out: dict[int, str] = {}
    for block in func.blocks.values():
        writer.defined = set()
        for v in block.params:
            writer.define(v)
        for inst in block.insts:
            out[id(inst)] = writer.instruction(inst)
            for v in inst.results:
                writer.define(v)
    return out


class _FunctionWriter:
    """Writes one function; knows its aliases and which values each block has defined so far."""

    def __init__(self, func: Function, annotate: bool = False):
        self.func = func
        self.lines: list[str] = []
        self.constants: dict[int, str] = {}  # value -> its constant, when annotating as Cranelift does
        if annotate:
            for inst in func.instructions():
                text = _constant_text(inst) if len(inst.results) == 1 else None
                if text is not None:
                    self.constants[inst.results[0]] = text
        self.aliases_of: dict[int, list[int]] = {}
        for alias, target in sorted(func.aliases.items()):
            self.aliases_of.setdefault(target, []).append(alias)
        self.defined: set[int] = set()  # values defined so far in the current block
        self.dyn_names: dict[Type, str] = {}  # dynamic vector type -> "dtN" that names it
        for n, dt in sorted(func.dynamic_types.items(), reverse=True):
            dyn = dt.base_vector.vector_to_dynamic()
            if dyn is not None:
                self.dyn_names[dyn] = f"dt{n}"

    def write(self) -> str:
        func, lines = self.func, self.lines
        lines.append(_with_comment(f"function {func.name}{format_signature(func.signature)} {{", func.comment))
        for key, text in _preamble(func):
            self.comment_lines(func.entity_comments_before.get(key, ()), INDENT)
            fact = func.global_value_facts.get(int(key[2:])) if key.startswith("gv") else None
            name = key if fact is None else f"{key} ! {fact}"
            lines.append(_with_comment(f"{INDENT}{name} = {text}", func.entity_comments.get(key)))
        for i, block in enumerate(func.blocks.values()):
            if i or len(lines) > 1:
                lines.append("")
            self.block(block)
        self.comment_lines(func.end_comments, INDENT)
        lines.append("}")
        return "\n".join(lines) + "\n"

    def comment_lines(self, comments, indent: str) -> None:
        self.lines.extend(indent + c for c in comments)

    def define(self, value: int) -> None:
        """Note `value` as defined, and write the aliases that name it, each followed by its own
        (depth first, without recursion: alias chains may be long)."""
        func = self.func
        self.defined.add(value)
        if value not in self.aliases_of:
            return  # (as for most values: no alias names it)
        pending = [iter(self.aliases_of[value])]
        while pending:
            alias = next(pending[-1], None)
            if alias is None:
                pending.pop()
                continue
            key = f"v{alias}"
            self.comment_lines(func.entity_comments_before.get(key, ()), INDENT)
            line = f"{INDENT}v{alias} -> v{func.aliases[alias]}"
            self.lines.append(_with_comment(line, func.entity_comments.get(key)))
            self.defined.add(alias)
            pending.append(iter(self.aliases_of.get(alias, ())))

    def block(self, block: Block) -> None:
        func = self.func
        self.defined = set()
        self.comment_lines(block.comments, "")
        self.lines.append(_with_comment(block_header(func, block), block.comment))
        for v in block.params:
            self.define(v)
        lines, annotate = self.lines, bool(self.constants)
        defined, aliased = self.defined, bool(self.aliases_of)
        for inst in block.insts:
            # (the comment and annotation calls only where there is one: a block of a generated
            # program has neither, and the fuzzer prints thousands of instructions a second)
            if inst.comments_before:
                self.comment_lines(inst.comments_before, INDENT)
            text = INDENT + self.instruction(inst) + (self.annotation(inst) if annotate else "")
            lines.append(_with_comment(text, inst.comment) if inst.comment else text)
            if aliased:
                for v in inst.results:
                    self.define(v)
            else:
                defined.update(inst.results)  # (`define` without aliases to write)

    def annotation(self, inst: Inst) -> str:
        """``  ; v1 = 5, v2 = 0.0``: the constants among the values `inst` uses, in operand order."""
        if not self.constants:
            return ""
        used = [*inst.args, *(a for bc in inst.branch_targets() for a in bc.args if isinstance(a, int))]
        if inst.exception is not None:
            used += [v for _, v in inst.exception.contexts]
        texts = [f"v{v} = {self.constants[self.func.resolve(v)]}" for v in used
                 if self.func.resolve(v) in self.constants]
        return "  ; " + ", ".join(texts) if texts else ""

    def type_name(self, ty: Type) -> str:
        """A type suffix: a dynamic vector type by the ``dtN`` that names it, as Cranelift writes it."""
        return self.dyn_names.get(ty, ty.name) if ty.dynamic else ty.name

    def suffix(self, inst: Inst) -> str:
        op, ctrl = inst.opcode, inst.ctrl_type
        if op.ctrl is None or ctrl is None:
            return ""
        if op.ctrl_from_operand:
            v = inst.args[op.format.ctrl_operand]  # type: ignore[index]
            if v in self.defined and self.func.value_types.get(v) is ctrl:
                return ""
        return "." + self.type_name(ctrl)

    def instruction(self, inst: Inst) -> str:
        text = f"<{', '.join(map(str, inst.debug_tags))}> " if inst.debug_tags is not None else ""
        text += f"@{inst.srcloc:04x} " if inst.srcloc is not None else ""
        if inst.results:
            if self.func.facts:
                text += ", ".join(_with_fact(self.func, v) for v in inst.results) + " = "
            elif len(inst.results) == 1:
                text += f"v{inst.results[0]} = "
            else:
                text += ", ".join([f"v{v}" for v in inst.results]) + " = "
        return text + inst.opcode.name + self.suffix(inst) + _OPERANDS[inst.opcode.format.name](inst)


# -- operands, one function per format ------------------------------------------------------


def _vals(values) -> str:
    return ", ".join([f"v{v}" for v in values])


def _block_call(bc: BlockCall) -> str:
    if not bc.args:
        return f"block{bc.block}"
    args = ", ".join(f"v{a}" if isinstance(a, int) else str(a) for a in bc.args)
    return f"block{bc.block}({args})"


def _exception_table(et: ExceptionTableData) -> str:
    items = [f"{tag or 'default'}: {_block_call(bc)}" for tag, bc in et.handlers]
    for k, (before, v) in enumerate(et.contexts):  # each after the handlers written before it
        items.insert(before + k, f"context v{v}")
    handlers = ", ".join(items)
    return f"sig{et.sig_ref}, {_block_call(et.normal)}, [{' ' + handlers + ' ' if handlers else ''}]"


def _imm(inst: Inst) -> str:
    """An integer immediate as Cranelift shows it: sign-extended from the controlling width."""
    imm, ctrl = inst.imm, inst.ctrl_type
    if ctrl is not None and ctrl.bits < 64:
        imm = sign_extend(imm, ctrl.bits)
    return format_imm(imm)


def _lane(raw: int, lane: Type) -> str:
    if lane.is_float:
        return format_float(raw, lane.bits)
    signed = sign_extend(raw, lane.bits)
    return str(signed) if -10_000 < signed < 10_000 else write_hex(raw)


def format_constant(data: bytes, ty: Type) -> str:
    """A `ty` constant as a list of lanes, or in hexadecimal if it was written so (or has no list form)."""
    lane = ty.lane_type
    listable = lane.bits in (32, 64) if lane.is_float else lane.bits <= 64
    if isinstance(data, HexBytes) or not listable or len(data) != ty.bytes:
        return format_hex_bytes(data)
    step = lane.bytes
    lanes = (int.from_bytes(data[i : i + step], "little") for i in range(0, len(data), step))
    return "[" + " ".join(_lane(raw, lane) for raw in lanes) + "]"


def _unary_const(inst: Inst) -> str:
    if isinstance(inst.imm, int):
        return f" const{inst.imm}"
    if inst.opcode.name == "f128const":
        return " " + format_float(int.from_bytes(inst.imm, "little"), 128)
    return " " + format_constant(inst.imm, inst.ctrl_type)  # type: ignore[arg-type]


def _mask(inst: Inst) -> str:
    if isinstance(inst.mask, HexBytes):
        return format_hex_bytes(inst.mask)
    return "[" + " ".join(str(b) for b in inst.mask) + "]"  # type: ignore[union-attr]


def _heap_addr(inst: Inst) -> str:
    a = inst.args
    if inst.offset is None:  # the older three-operand form
        return f" heap{inst.heap}, v{a[0]}, {format_imm(inst.size)}"
    return f" heap{inst.heap}, v{a[0]}, {format_imm(inst.offset)}, {format_imm(inst.size)}"


def _stack_map(inst: Inst) -> str:
    if inst.stack_map is None:
        return ""
    return ", stack_map=[" + ", ".join(f"{t} @ ss{s}+{off}" for t, s, off in inst.stack_map) + "]"


def _table_targets(jt) -> str:
    if jt.declared is not None:
        return f"jt{jt.declared}"
    return f"[{', '.join(map(_block_call, jt.targets))}]"


def _heap_offset(offset: int) -> str:
    return "+" + format_imm(offset) if offset else ""


_OPERANDS: dict[str, Callable[[Inst], str]] = {
    "Nullary": lambda i: "",
    "Unary": lambda i: f" v{i.args[0]}",
    "UnaryImm": lambda i: " " + _imm(i),
    "UnaryIeee16": lambda i: " " + format_float(i.imm, 16),
    "UnaryIeee32": lambda i: " " + format_float(i.imm, 32),
    "UnaryIeee64": lambda i: " " + format_float(i.imm, 64),
    "UnaryConst": _unary_const,
    "UnaryGlobalValue": lambda i: f" gv{i.global_value}",
    "Binary": lambda i: " " + _vals(i.args),
    "BinaryImm8": lambda i: f" v{i.args[0]}, {i.imm}",
    "BinaryImm64": lambda i: f" v{i.args[0]}, {_imm(i)}",
    "Ternary": lambda i: " " + _vals(i.args),
    "TernaryImm8": lambda i: f" {_vals(i.args)}, {i.imm}",
    "Multiary": lambda i: " " + _vals(i.args) if i.args else "",
    "Shuffle": lambda i: f" {_vals(i.args)}, {_mask(i)}",
    "IntCompare": lambda i: f" {i.cond} {_vals(i.args)}",
    "IntCompareImm": lambda i: f" {i.cond} v{i.args[0]}, {_imm(i)}",
    "FloatCompare": lambda i: f" {i.cond} {_vals(i.args)}",
    "Jump": lambda i: " " + _block_call(i.dests[0]),
    "Brif": lambda i: f" v{i.args[0]}, {_block_call(i.dests[0])}, {_block_call(i.dests[1])}",
    "BranchTable": lambda i: f" v{i.args[0]}, {_block_call(i.jump_table.default)}, {_table_targets(i.jump_table)}",
    "Branch": lambda i: f" v{i.args[0]}, {_block_call(i.dests[0])}",
    "Call": lambda i: f" fn{i.func_ref}({_vals(i.args)}){_stack_map(i)}",
    "CallIndirect": lambda i: f" sig{i.sig_ref}, v{i.args[0]}({_vals(i.args[1:])}){_stack_map(i)}",
    "TryCall": lambda i: f" fn{i.func_ref}({_vals(i.args)}), {_exception_table(i.exception)}",
    "TryCallIndirect": lambda i: f" v{i.args[0]}({_vals(i.args[1:])}), {_exception_table(i.exception)}",
    "FuncAddr": lambda i: f" fn{i.func_ref}",
    "ExceptionHandlerAddress": lambda i: f" block{i.block}, {format_imm(i.imm)}",
    "AtomicRmw": lambda i: f"{_flags(i.flags)} {i.rmw_op} {_vals(i.args)}",
    "AtomicCas": lambda i: f"{_flags(i.flags)} {_vals(i.args)}",
    "Load": lambda i: f"{_flags(i.flags)} v{i.args[0]}{format_offset(i.offset)}",
    "LoadNoOffset": lambda i: f"{_flags(i.flags)} v{i.args[0]}",
    "Store": lambda i: f"{_flags(i.flags)} {_vals(i.args)}{format_offset(i.offset)}",
    "StoreNoOffset": lambda i: f"{_flags(i.flags)} {_vals(i.args)}",
    "StackLoad": lambda i: f" ss{i.stack_slot}{format_offset(i.offset)}",
    "StackStore": lambda i: f" v{i.args[0]}, ss{i.stack_slot}{format_offset(i.offset)}",
    "DynamicStackLoad": lambda i: f" dss{i.stack_slot}",
    "DynamicStackStore": lambda i: f" v{i.args[0]}, dss{i.stack_slot}",
    "Trap": lambda i: f" {i.code}",
    "CondTrap": lambda i: f" v{i.args[0]}, {i.code}",
    "IntAddTrap": lambda i: f" {_vals(i.args)}, {i.code}",
    "HeapAddr": _heap_addr,
    "HeapLoad": lambda i: f" heap{i.heap}{_flags(i.flags)} v{i.args[0]}{_heap_offset(i.offset)}",
    "HeapStore": lambda i: f" heap{i.heap}{_flags(i.flags)} v{i.args[0]}{_heap_offset(i.offset)}, v{i.args[1]}",
    "TableAddr": lambda i: f" table{i.table}, v{i.args[0]}, {format_offset(i.offset) or '+0'}",
}
