"""Instructions: results, opcode, type suffix, the operands of each format, result types.

The grammar of the operands depends only on the opcode's instruction format,
so there is one method per format (``_fmt_<Format>``), each modelled on the
matching arm of Cranelift's ``parse_inst_operands``. What an instruction
means for types comes from the opcode table: the controlling type is the
``.T`` suffix or, for opcodes that allow it, the type of the format's typevar
operand; the result types follow from it (or from the callee's signature).

The function being read lives on the parser (`self.func`). Values and blocks
may be used before the text defines them (loops, forward branches), so uses
of not-yet-defined ones are noted and checked when the function ends.
"""

from __future__ import annotations

from dataclasses import replace

from .. import lazy
from ..diagnostics import Location
from ..ir.function import Block, BlockCall, Function, Inst, JumpTableData, new_inst
from ..ir.immediates import FLOATCC, INTCC, parse_trap_code
from ..ir.opcodes import OPCODES, Opcode, TypeVar
from ..ir.types import Type, parse_type
from .cursor import Cursor
from ..ir.numbers import NumberError, parse_imm64, parse_int, parse_offset32, parse_uint

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional, Sequence
    from ..ir.memflags import MemFlags
    from ..ir.pcc import Fact, MemoryTypeData
    from ..ir.try_call import BlockArg

_EXAMPLE_TYPES = [
    parse_type(n)
    for n in ("i32", "i64", "i8", "i16", "i128", "f32", "f64", "f16", "f128", "i32x4", "f32x4", "i8x16",
              "i16x8", "i64x2", "f64x2", "i32x4xN", "i8x16xN")
]  # fmt: skip
I8X16 = parse_type("i8x16")

# Entity token kinds: what messages call them, and the `Function` dict that holds them.
ENTITY_NAMES = {
    "ss": "stack slot", "dss": "dynamic stack slot", "dt": "dynamic type", "gv": "global value",
    "sig": "signature", "fn": "function reference", "const": "constant", "heap": "heap", "table": "table",
    "jt": "jump table", "region": "alias region", "mt": "memory type",
}  # fmt: skip
ENTITY_TABLES = {
    "ss": "stack_slots", "dss": "dynamic_stack_slots", "dt": "dynamic_types", "gv": "global_values",
    "sig": "signatures", "fn": "func_refs", "const": "constants", "heap": "heaps", "table": "tables",
    "jt": "jump_tables", "region": "alias_regions", "mt": "memory_types",
}  # fmt: skip


def example_type(tv: TypeVar) -> Optional[Type]:
    """A typical member of `tv`, to show in messages (``e.g. iadd.i32``)."""
    return next((t for t in _EXAMPLE_TYPES if tv.contains(t)), None)


_accepted: dict[tuple[str, Type], bool] = {}
# (opcode name, controlling type) -> the result types the table gives them.
_result_types: dict[tuple[str, Optional[Type]], tuple[Type, ...]] = {}


def accepts(op: Opcode, ty: Type) -> bool:
    """Is `ty` a valid controlling type for `op`? (Cached: the type-set test is slow and asked often.)"""
    key = (op.name, ty)
    ok = _accepted.get(key)
    if ok is None:
        ok = _accepted[key] = op.ctrl is not None and op.ctrl.contains(ty)
    return ok


class InstructionParser(Cursor):
    """Parses instructions into `self.func`; the function-level parser sets the context up."""

    path: str
    func: Function
    value_lines: dict[int, int]  # value -> line of its definition
    value_uses: list[tuple[int, int]]  # (value, token index) for uses before definition
    block_uses: list[tuple[int, int]]  # (block, token index) for every branch target

    # -- small pieces -----------------------------------------------------------
    def loc(self, i: int) -> Location:
        return Location(self.path, self.tlines[i], self.tcols[i])

    def use(self, what: str = "a value operand") -> int:
        i = self.pos
        if self.kinds[i] != "value":
            self.fail(what)
        v = self.vals[i]
        self.pos = i + 1
        if v not in self.func.value_types:
            self.value_uses.append((v, i))  # type: ignore[arg-type]
        return v  # type: ignore[return-value]

    def ref_entity(self, kind: str) -> int:
        """A reference to a preamble entity in a fact or memory type (the function-level parser
        checks it now, or at the preamble's end)."""
        return self.entity(kind)

    # Facts and memory types (`facts`, imported at the first one: few files have any).
    def optional_fact(self) -> Optional[Fact]:
        """``! fact`` after a value or global value, or None."""
        if self.kinds[self.pos] != "!":
            return None
        from .facts import optional_fact

        return optional_fact(self)

    def fact(self) -> Fact:
        from .facts import fact

        return fact(self)

    def memory_type(self) -> MemoryTypeData:
        from .facts import memory_type

        return memory_type(self)

    def comma(self) -> None:
        if self.kinds[self.pos] != ",":
            self.fail("',' between operands")
        self.pos += 1

    def operands(self, n: int, more: bool = False) -> list[int]:
        """`n` comma-separated value operands; with `more`, the comma after them too (an
        immediate, a destination or another entity follows)."""
        out = [self.use()]
        for _ in range(n - 1):
            self.comma()
            out.append(self.use())
        if more:
            self.comma()
        return out

    def entity(self, kind: str) -> int:
        """A reference to a preamble entity of `kind` that must be declared."""
        i = self.pos
        n = self.expect(kind, f"a {ENTITY_NAMES[kind]} ({kind}N)")
        if n not in getattr(self.func, ENTITY_TABLES[kind]):
            raise self.error(f"undefined {ENTITY_NAMES[kind]} {kind}{n}", i)
        return n

    def number(self, what: str) -> tuple[int, str]:
        """(token index, text) of a number token."""
        i = self.pos
        if self.kinds[i] != "num":
            self.fail(what)
        self.pos = i + 1
        return i, self.vals[i]  # type: ignore[return-value]

    def uimm(self, bits: int, what: str) -> int:
        i, text = self.number(what)
        try:
            return parse_uint(text, bits)
        except NumberError as e:
            raise self.number_error(i, what, e) from None

    def imm64(self, what: str = "64-bit immediate") -> int:
        i, text = self.number(f"a {what}")
        try:
            return parse_imm64(text)
        except NumberError as e:
            raise self.number_error(i, what, e) from None

    def optional_offset(self) -> int:
        """A signed offset such as ``+8`` or ``-16``, or 0 when none is written."""
        i = self.pos
        if self.kinds[i] == "num" and self.vals[i][0] in "+-":  # type: ignore[index]
            self.pos = i + 1
            try:
                return parse_offset32(self.vals[i])  # type: ignore[arg-type]
            except NumberError as e:
                raise self.number_error(i, "offset", e) from None
        return 0

    def memflags(self) -> MemFlags:
        memflags = lazy.module("clifkit.ir.memflags")  # (on first need: a memory access)
        add_memflag = memflags.add_memflag
        flags = memflags.DEFAULT_FLAGS
        while self.kinds[self.pos] in ("word", "region"):
            if self.kinds[self.pos] == "region":  # declared or not: the verifier says
                if flags.region is not None:
                    raise self.error("cannot set more than one alias region")
                flags = replace(flags, region=self.vals[self.pos])
                self.pos += 1
                continue
            new, problem = add_memflag(flags, self.vals[self.pos])  # type: ignore[arg-type]
            if problem:
                raise self.error(problem)
            if new is None:
                break
            flags = new
            self.pos += 1
        return flags

    def word_from(self, choices, what: str) -> str:
        i = self.pos
        if self.kinds[i] != "word":
            self.fail(what)
        if self.vals[i] not in choices:
            raise self.error(f"unknown {what} '{self.vals[i]}'")
        self.pos = i + 1
        return self.vals[i]  # type: ignore[return-value]

    def trap_code(self) -> str:
        i = self.pos
        if self.kinds[i] != "word":
            self.fail("a trap code")
        code = parse_trap_code(self.vals[i])  # type: ignore[arg-type]
        if code is None:
            raise self.error(f"unknown trap code '{self.vals[i]}'")
        self.pos = i + 1
        return code

    def value_list(self) -> list[int]:
        """``v1, v2, ...`` (possibly empty)."""
        if self.kinds[self.pos] != "value":
            return []
        out = [self.use()]
        while self.accept(","):
            out.append(self.use("a value"))
        return out

    def call_args(self, inst: Inst) -> list[int]:
        self.expect("(", "'(' before the call arguments")
        args = self.value_list()
        self.expect(")", "')' after the call arguments")
        after = self.pos + 1
        if self.kinds[self.pos] == "," and self.kinds[after] == "word" and self.vals[after] == "stack_map":
            self.pos = after + 1
            inst.stack_map = self.stack_map()
        return args

    def stack_map(self) -> list[tuple[Type, int, int]]:
        from .rare_formats import stack_map  # (on first need)

        return stack_map(self)

    def block_call(self) -> BlockCall:
        i = self.pos
        b = self.expect("block", "a block (blockN)")
        self.block_uses.append((b, i))
        args: list[BlockArg] = []
        if self.accept("("):
            while self.kinds[self.pos] != ")":
                kind = self.kinds[self.pos]
                if kind == "value":
                    args.append(self.use())
                elif kind in ("ret", "exn"):  # (a try_call's edge: `try_call` is imported then)
                    from ..ir.try_call import TryCallExn, TryCallRet

                    args.append((TryCallRet if kind == "ret" else TryCallExn)(self.vals[self.pos]))  # type: ignore[arg-type]
                    self.pos += 1
                else:
                    self.fail("a block argument (a value, retN or exnN)")
                if not self.accept(","):
                    break
            self.expect(")", "')' after the block arguments")
        return BlockCall(b, args)

    def constant_literal(self, ty: Type) -> bytes:
        # (rare_formats on first need: vconst, shuffle, a constant)
        return lazy.module("clifkit.reader.rare_formats").constant_literal(self, ty)

    # -- one instruction ------------------------------------------------------------
    def result_fact(self, v: int, facts: dict) -> None:
        fact = self.optional_fact()
        if fact is not None:
            facts[v] = fact

    def debug_tags(self) -> Optional[list]:
        if self.kinds[self.pos] != "<":
            return None
        from .rare_formats import debug_tags  # (on first need)

        return debug_tags(self)

    def instruction(self, block: Block) -> None:
        start = self.pos
        leading = self.take_leading(start)
        tags = self.debug_tags()  # written before the source location, as Cranelift writes them
        start = self.pos
        srcloc = None
        if self.kinds[start] == "srcloc":
            srcloc = int(self.vals[start][1:], 16)  # type: ignore[index]
            if srcloc >> 32:
                raise self.error(f"source location {self.vals[start]} does not fit in 32 bits")
            self.pos += 1
        results: list[int] = []
        result_toks: list[int] = []
        facts: dict[int, Fact] = {}
        kinds = self.kinds
        if kinds[self.pos] == "value":
            while True:  # vN [! fact], ... (read here rather than by `expect`: most instructions have results)
                i = self.pos
                if kinds[i] != "value":
                    self.fail("a result value")
                result_toks.append(i)
                results.append(self.vals[i])  # type: ignore[arg-type]
                self.pos = i + 1
                if kinds[i + 1] == "!":
                    self.result_fact(results[-1], facts)
                if kinds[self.pos] != ",":
                    break
                self.pos += 1
            if kinds[self.pos] == "->":
                if facts:
                    raise self.error("a value alias cannot have a fact", start)
                if srcloc is not None:
                    raise self.error("a value alias cannot have a source location", start)
                self.pos += 1
                self.alias(results, result_toks, leading)
                return
            self.expect("=", "'=' or '->' after the result values")
        op_i = self.pos
        if self.kinds[op_i] != "word":
            self.fail("an opcode")
        name: str = self.vals[op_i]  # type: ignore[assignment]
        op = OPCODES.get(name)
        if op is None:
            raise self.error(f"unknown opcode '{name}'")
        self.pos += 1
        ctrl = self.type_suffix(op)
        inst = new_inst(op, ctrl, [], [])
        inst.loc = self.loc(op_i)
        inst.srcloc = srcloc
        inst.debug_tags = tags
        parse = _OPERAND_PARSERS.get(op.format.name)
        if parse is not None:
            parse(self, inst)
        else:  # (rare_formats on first need: exceptions, atomics, heap era...)
            lazy.module("clifkit.reader.rare_formats").RARE_FORMATS[op.format.name](self, inst)
        if ctrl is None and op.ctrl is not None:
            inst.ctrl_type = self.infer_ctrl(op, inst, op_i)
        types = self.result_types(op, inst, op_i)
        if len(types) != len(results):
            s = "" if len(types) == 1 else "s"
            raise self.error(f"{name} produces {len(types)} result{s}, {len(results)} given", op_i)
        for v, t, i in zip(results, types, result_toks):
            self.define_value(v, t, i)
        if facts:
            self.func.facts.update(facts)
        inst.results = results
        inst.comments_before = leading or None
        inst.comment = self.take_trailing()
        block.insts.append(inst)

    def define_value(self, v: int, ty: Type, i: int) -> None:
        if v in self.func.value_types:
            raise self.error(f"v{v} is already defined on line {self.value_lines[v]}", i)
        self.func.value_types[v] = ty
        self.value_lines[v] = self.tlines[i]

    def alias(self, results: list[int], result_toks: list[int], leading: list[str]) -> None:
        """``v3 -> v1``: v3 names the same value as v1, which must be defined already."""
        func = self.func
        if len(results) != 1:
            raise self.error("a value alias defines exactly one value", result_toks[1])
        v = results[0]
        i = self.pos
        target = self.expect("value", "the aliased value")
        if target not in func.value_types:
            raise self.error(f"cannot alias v{v} to v{target}, which is not defined yet", i)
        if func.aliases.get(v) != target:
            self.define_value(v, func.value_types[target], result_toks[0])
            func.aliases[v] = target
        key = f"v{v}"
        func.entity_locs.setdefault(key, self.loc(result_toks[0]))
        if leading:
            func.entity_comments_before.setdefault(key, []).extend(leading)
        comment = self.take_trailing()
        if comment:
            func.entity_comments[key] = comment

    def type_suffix(self, op: Opcode) -> Optional[Type]:
        """The ``.T`` (or ``.dtN``) after the opcode, checked against the opcode's type variable."""
        if self.kinds[self.pos] != ".":
            if op.ctrl is not None and not op.ctrl_from_operand:
                example = example_type(op.ctrl)
                raise self.error(f"{op.name} needs a type suffix, e.g. {op.name}.{example}", self.pos - 1)
            return None
        self.pos += 1
        i = self.pos
        kind = self.kinds[i]
        if kind == "type":
            ty: Type = self.vals[i]  # type: ignore[assignment]
        elif kind == "dt":
            dt = self.func.dynamic_types.get(self.vals[i])  # type: ignore[arg-type]
            if dt is None:
                raise self.error(f"undefined dynamic type dt{self.vals[i]}")
            ty = dt.base_vector.vector_to_dynamic()  # type: ignore[assignment]
        else:
            self.fail("a type after '.'")
        self.pos = i + 1
        if op.ctrl is None:
            if op.outs and op.outs[0].typevar is not None and op.outs[0].fixed is ty:
                return None  # the heap era wrote the one type of swizzle.i8x16 and the like; it adds nothing
            raise self.error(f"{op.name} takes no type suffix", i)
        if not accepts(op, ty):
            raise self.error(f"{op.name} does not accept type {ty}", i)
        return ty

    def infer_ctrl(self, op: Opcode, inst: Inst, op_i: int) -> Type:
        """The controlling type of a suffix-less instruction: its typevar operand's type."""
        v = inst.args[op.format.ctrl_operand]  # type: ignore[index]
        ty = self.func.value_types.get(v)
        if ty is None:
            example = example_type(op.ctrl)  # type: ignore[arg-type]
            raise self.error(
                f"cannot infer the type of {op.name} from v{v}, which is not defined yet; "
                f"write it as a suffix, e.g. {op.name}.{example}",
                op_i,
            )
        if not accepts(op, ty):
            raise self.error(f"{op.name} does not accept type {ty} (the type of v{v})", op_i)
        return ty

    def result_types(self, op: Opcode, inst: Inst, op_i: int) -> Sequence[Type]:
        if op.outs and op.outs[0].varargs:  # calls: the callee's signature says
            func = self.func
            sig_ref = func.func_refs[inst.func_ref].signature if inst.func_ref is not None else inst.sig_ref
            return [p.type for p in func.signatures[sig_ref].returns]
        ctrl = inst.ctrl_type
        key = (op.name, ctrl)
        types = _result_types.get(key)
        if types is None:
            types = []
            for out in op.outs:
                ty = out.resolve(ctrl)
                if ty is None:
                    ty = ctrl
                if ty is None:
                    raise self.error(f"{op.name}.{ctrl} has no valid result type", op_i)
                types.append(ty)
            types = _result_types[key] = tuple(types)
        return types

    # -- operands, one method per format -----------------------------------------------
    def _fmt_Nullary(self, inst: Inst) -> None:
        pass

    def _fmt_Unary(self, inst: Inst) -> None:
        inst.args = [self.use()]

    def _fmt_UnaryImm(self, inst: Inst) -> None:
        ty = inst.ctrl_type
        i, text = self.number("an integer immediate")
        try:
            inst.imm = parse_int(text, ty.bits)  # type: ignore[union-attr]
        except NumberError as e:
            raise self.number_error(i, f"{ty} immediate", e) from None

    def _float_imm(self, inst: Inst, bits: int) -> None:
        i, text = self.number(f"an f{bits} immediate")
        try:
            # (ir.floats on first need: a float constant)
            inst.imm = lazy.module("clifkit.ir.floats").parse_float(text, bits)
        except NumberError as e:
            raise self.number_error(i, f"f{bits} immediate", e) from None

    def _fmt_UnaryIeee16(self, inst: Inst) -> None:
        self._float_imm(inst, 16)

    def _fmt_UnaryIeee32(self, inst: Inst) -> None:
        self._float_imm(inst, 32)

    def _fmt_UnaryIeee64(self, inst: Inst) -> None:
        self._float_imm(inst, 64)

    def _fmt_UnaryConst(self, inst: Inst) -> None:
        if self.kinds[self.pos] == "const":
            inst.imm = self.entity("const")
        elif inst.opcode.name == "f128const":
            self._float_imm(inst, 128)
            inst.imm = inst.imm.to_bytes(16, "little")
        else:
            inst.imm = self.constant_literal(inst.ctrl_type)  # type: ignore[arg-type]

    def _fmt_UnaryGlobalValue(self, inst: Inst) -> None:
        inst.global_value = self.entity("gv")

    def _fmt_Binary(self, inst: Inst) -> None:
        inst.args = self.operands(2)

    def _fmt_BinaryImm8(self, inst: Inst) -> None:
        inst.args = self.operands(1, more=True)
        inst.imm = self.uimm(8, "lane index")

    def _fmt_BinaryImm64(self, inst: Inst) -> None:
        inst.args = self.operands(1, more=True)
        inst.imm = self.imm64()

    def _fmt_Ternary(self, inst: Inst) -> None:
        inst.args = self.operands(3)

    def _fmt_TernaryImm8(self, inst: Inst) -> None:
        inst.args = self.operands(2, more=True)
        inst.imm = self.uimm(8, "lane index")

    def _fmt_Multiary(self, inst: Inst) -> None:
        inst.args = self.value_list()

    def _fmt_Shuffle(self, inst: Inst) -> None:
        inst.args = self.operands(2, more=True)
        inst.mask = self.constant_literal(I8X16)  # type: ignore[arg-type]

    def _fmt_IntCompare(self, inst: Inst) -> None:
        inst.cond = self.word_from(INTCC, "integer condition code")
        self._fmt_Binary(inst)

    def _fmt_IntCompareImm(self, inst: Inst) -> None:
        inst.cond = self.word_from(INTCC, "integer condition code")
        self._fmt_BinaryImm64(inst)

    def _fmt_FloatCompare(self, inst: Inst) -> None:
        inst.cond = self.word_from(FLOATCC, "float condition code")
        self._fmt_Binary(inst)

    def _fmt_Jump(self, inst: Inst) -> None:
        inst.dests = [self.block_call()]

    def _fmt_Brif(self, inst: Inst) -> None:
        inst.args = self.operands(1, more=True)
        then = self.block_call()
        self.comma()
        inst.dests = [then, self.block_call()]

    def _fmt_BranchTable(self, inst: Inst) -> None:
        inst.args = self.operands(1, more=True)
        default = self.block_call()
        self.comma()
        if self.kinds[self.pos] == "jt":  # heap era: a declared table
            n = self.entity("jt")
            targets = [BlockCall(b) for b in self.func.jump_tables[n]]
            inst.jump_table = JumpTableData(default, targets, declared=n)
            return
        self.expect("[", "'[' before the jump table")
        targets = []
        if self.kinds[self.pos] != "]":
            targets.append(self.block_call())
            while self.accept(","):
                targets.append(self.block_call())
        self.expect("]", "',' or ']' in the jump table")
        inst.jump_table = JumpTableData(default, targets)

    def _fmt_Branch(self, inst: Inst) -> None:
        """Heap era: ``brz v, blockN(args)``; the block goes on with the next instruction otherwise."""
        inst.args = self.operands(1, more=True)
        inst.dests = [self.block_call()]

    def _fmt_Call(self, inst: Inst) -> None:
        inst.func_ref = self.entity("fn")
        inst.args = self.call_args(inst)

    def _fmt_CallIndirect(self, inst: Inst) -> None:
        inst.sig_ref = self.entity("sig")
        self.comma()
        callee = self.use("the callee value")
        inst.args = [callee, *self.call_args(inst)]

    def _fmt_FuncAddr(self, inst: Inst) -> None:
        inst.func_ref = self.entity("fn")

    def _fmt_Load(self, inst: Inst) -> None:
        inst.flags = self.memflags()
        inst.args = [self.use("the address")]
        inst.offset = self.optional_offset()

    def _fmt_LoadNoOffset(self, inst: Inst) -> None:
        inst.flags = self.memflags()
        inst.args = [self.use()]

    def _fmt_Store(self, inst: Inst) -> None:
        inst.flags = self.memflags()
        self._fmt_Binary(inst)
        inst.offset = self.optional_offset()

    def _fmt_StoreNoOffset(self, inst: Inst) -> None:
        inst.flags = self.memflags()
        self._fmt_Binary(inst)

    def _fmt_StackLoad(self, inst: Inst) -> None:
        inst.stack_slot = self.entity("ss")
        inst.offset = self.optional_offset()

    def _fmt_StackStore(self, inst: Inst) -> None:
        inst.args = self.operands(1, more=True)
        self._fmt_StackLoad(inst)

    def _fmt_Trap(self, inst: Inst) -> None:
        inst.code = self.trap_code()

    def _fmt_CondTrap(self, inst: Inst) -> None:
        inst.args = self.operands(1, more=True)
        inst.code = self.trap_code()

    def _fmt_IntAddTrap(self, inst: Inst) -> None:
        self._fmt_Binary(inst)
        self.comma()
        inst.code = self.trap_code()

    # -- heap era (Cranelift 2021-2022) -----------------------------------------------


# The operand parser of each format that has a ``_fmt_`` method, by format name (a dict lookup per
# instruction rather than building the method's name and looking it up on the parser).
_OPERAND_PARSERS = {name[len("_fmt_"):]: fn for name, fn in vars(InstructionParser).items() if name.startswith("_fmt_")}
