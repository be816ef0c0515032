"""The function model: what the reader builds, the printer writes and the engines run.

Values and blocks are plain integers (``v7`` is 7, ``block3`` is 3); their
types live in `Function.value_types`. Preamble entities (stack slots, global
values, heaps, tables, signatures, function references, constants) are kept
in dicts keyed by their number, in declaration order. An instruction is an
`Inst`: its opcode (a row of the opcode table), its controlling type, its
value operands and results, and the immediate fields its format defines.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

from ..diagnostics import ClifError, Location
from .opcodes import Opcode
from .types import Type

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it

if TYPE_CHECKING:  # (facts and memory types are made by the reader, which imports `pcc` for them)
    from typing import Mapping, Optional, Union
    from .entities import (DynamicStackSlotData, DynamicTypeData, ExtFuncData, GlobalValueData, HeapData,
                           StackSlotData, TableData)
    from .memflags import MemFlags
    from .try_call import BlockArg, ExceptionTableData
    from .pcc import Fact, MemoryTypeData


# -- block calls ----------------------------------------------------------




@dataclass
class BlockCall:
    """A branch target with its arguments: ``block3(v1, v2)``."""

    block: int
    args: list[BlockArg] = field(default_factory=list)  # BlockArg: an int value, or try_call's retN / exnN


@dataclass
class JumpTableData:
    """The inline table of a ``br_table``: ``block0, [block1, block2]``."""

    default: BlockCall
    targets: list[BlockCall]
    declared: Optional[int] = None  # heap era: N of the ``jtN = jump_table [...]`` the text named


# -- signatures and external names ------------------------------------------


@dataclass(frozen=True)
class AbiParam:
    """A parameter or return value of a signature: its type, extension and purpose."""

    type: Type
    extension: Optional[str] = None  # "uext", "sext"
    purpose: Optional[str] = None  # "vmctx", "sret", "stack_limit", ...


@dataclass
class Signature:
    """A function signature: parameters, returns and calling convention."""

    params: list[AbiParam] = field(default_factory=list)
    returns: list[AbiParam] = field(default_factory=list)
    call_conv: str = "fast"
    # False when the text names no convention: Cranelift then uses `fast`, or the host's under `test run`.
    call_conv_written: bool = True


@dataclass(frozen=True)
class ExternalName:
    """``%name`` (a test-case name), ``u0:1`` (a user name), ``%CeilF32`` and other libcalls."""

    text: str  # the name as written: "%foo", "u1:3", "%CeilF32"

    def __str__(self) -> str:
        return self.text


# -- instructions, blocks, functions ---------------------------------------


class Inst:
    """One instruction. Fields a format does not use stay None."""

    __slots__ = (
        "opcode", "ctrl_type", "args", "results", "loc", "srcloc", "comment",
        "imm", "cond", "flags", "offset", "code", "func_ref", "sig_ref", "stack_slot",
        "global_value", "jump_table", "dests", "rmw_op", "mask", "exception", "heap",
        "table", "size",
        "stack_map",  # calls (Cranelift 0.121 on): [(type, stack slot, offset)] of GC references
        "comments_before",  # comment lines just before the instruction (None: none)
        "block",  # get_exception_handler_address (Cranelift 0.124 on): the try_call block it names
        "debug_tags",  # `<0, ss1>` before an instruction (Cranelift 0.124 on): ints and "ssN" texts
    )  # fmt: skip

    def __init__(self, opcode: Opcode, ctrl_type: Optional[Type] = None, args=None, results=None, **fields):
        self.opcode = opcode
        self.ctrl_type = ctrl_type
        self.args: list[int] = list(args or [])
        self.results: list[int] = list(results or [])
        self.loc: Optional[Location] = None
        self.srcloc: Optional[int] = None  # `@00a4` annotations
        self.comment: Optional[str] = None
        # Every other field None, in one assignment (the generator makes tens of thousands).
        (self.imm, self.cond, self.flags, self.offset, self.code, self.func_ref, self.sig_ref, self.stack_slot,
         self.global_value, self.jump_table, self.dests, self.rmw_op, self.mask, self.exception, self.heap,
         self.table, self.size, self.stack_map, self.comments_before, self.block, self.debug_tags) = _NO_FIELDS
        for name, value in fields.items():
            setattr(self, name, value)

    # Pickled as one tuple of its fields in slot order (a generated program goes to the native
    # worker as its IR; the assignment below is several times faster than setting field by field).
    def __getstate__(self):
        return _inst_fields(self)

    def __setstate__(self, state) -> None:
        (self.opcode, self.ctrl_type, self.args, self.results, self.loc, self.srcloc, self.comment,
         self.imm, self.cond, self.flags, self.offset, self.code, self.func_ref, self.sig_ref, self.stack_slot,
         self.global_value, self.jump_table, self.dests, self.rmw_op, self.mask, self.exception, self.heap,
         self.table, self.size, self.stack_map, self.comments_before, self.block, self.debug_tags) = state

    def __repr__(self) -> str:
        return f"<Inst {self.opcode.name} {self.args} -> {self.results}>"

    def branch_targets(self) -> list[BlockCall]:
        """Every block call this instruction may transfer control to."""
        if self.dests is not None:
            return list(self.dests)
        if self.jump_table is not None:
            return [self.jump_table.default, *self.jump_table.targets]
        if self.exception is not None:
            return [self.exception.normal, *(bc for _, bc in self.exception.handlers)]
        return []


def new_inst(opcode: Opcode, ctrl_type: Optional[Type], args: list, results: list,
             imm=None, cond=None, flags=None, offset=None, code=None) -> Inst:
    """`Inst(opcode, ctrl_type, args, results, imm=..., ...)` that keeps `args` and `results`
    themselves (not copies) and takes only the five most common immediate fields, by position or
    name (no keyword dict): for code that makes tens of thousands (the fuzzer's generator), at
    about half the cost."""
    inst = _new(Inst)
    # (one statement each: an assignment from a tuple of these would build the tuple first)
    inst.opcode = opcode
    inst.ctrl_type = ctrl_type
    inst.args = args
    inst.results = results
    inst.imm = imm
    inst.cond = cond
    inst.flags = flags
    inst.offset = offset
    inst.code = code
    (inst.loc, inst.srcloc, inst.comment, inst.func_ref, inst.sig_ref, inst.stack_slot, inst.global_value,
     inst.jump_table, inst.dests, inst.rmw_op, inst.mask, inst.exception, inst.heap, inst.table, inst.size,
     inst.stack_map, inst.comments_before, inst.block, inst.debug_tags) = _NO_OTHER_FIELDS
    return inst


_new = object.__new__
_inst_fields = operator.attrgetter(*Inst.__slots__)
_NO_FIELDS = (None,) * (len(Inst.__slots__) - 7)
_NO_OTHER_FIELDS = (None,) * (len(Inst.__slots__) - 9)  # (new_inst)


def _block(states: list[tuple], *fields) -> Block:
    """A pickled `Block` rebuilt: its instructions from their field tuples (`Block.__reduce__`:
    in slot order, or only the seven most used fields when no other is set), then its other fields."""
    new = object.__new__
    insts = []
    for state in states:
        # (Inst.__setstate__'s assignment, written out: a call per instruction cost a tenth)
        inst = new(Inst)
        if len(state) == 7:
            inst.opcode, inst.ctrl_type, inst.args, inst.results, inst.imm, inst.flags, inst.offset = state
            # (the 21 other fields: as many Nones as `__init__` sets)
            (inst.loc, inst.srcloc, inst.comment, inst.cond, inst.code, inst.func_ref, inst.sig_ref, inst.stack_slot,
             inst.global_value, inst.jump_table, inst.dests, inst.rmw_op, inst.mask, inst.exception, inst.heap,
             inst.table, inst.size, inst.stack_map, inst.comments_before, inst.block, inst.debug_tags) = _NO_FIELDS
        else:
            (inst.opcode, inst.ctrl_type, inst.args, inst.results, inst.loc, inst.srcloc, inst.comment,
             inst.imm, inst.cond, inst.flags, inst.offset, inst.code, inst.func_ref, inst.sig_ref, inst.stack_slot,
             inst.global_value, inst.jump_table, inst.dests, inst.rmw_op, inst.mask, inst.exception, inst.heap,
             inst.table, inst.size, inst.stack_map, inst.comments_before, inst.block, inst.debug_tags) = state
        insts.append(inst)
    block = Block(*fields)
    block.insts = insts
    return block


@dataclass
class Block:
    """A basic block: its number, parameters and instructions."""

    number: int
    params: list[int] = field(default_factory=list)
    insts: list[Inst] = field(default_factory=list)
    cold: bool = False
    loc: Optional[Location] = None
    comments: list[str] = field(default_factory=list)  # comment lines just before the block header
    comment: Optional[str] = None  # the comment on the header's line

    # Pickled with its instructions as one list of field tuples, rebuilt in one loop (`_block`): a
    # generated program goes to the native worker as its IR, and pickle's own per-object protocol
    # (a call of __getstate__/__setstate__ per instruction) was most of the cost of sending it. An
    # instruction that sets no field but its operands, `imm`, `flags` and `offset` (most of a
    # generated program's) sends those seven alone; any other, every field in slot order. The
    # tuples are built by a comprehension, not an attrgetter: the interpreter's specialized slot
    # loads cost a fraction of a generic getattr's instructions, and checking the 21 other
    # fields for None costs less than pickling and unpickling them (callgrind, a fuzz batch's
    # payloads, instructions a program: dumps 2.70M -> 1.98M for the comprehension, -> 1.74M for
    # the short tuples; loads and freeing 2.16M -> 2.01M).
    def __reduce__(self):
        return (_block, ([(i.opcode, i.ctrl_type, i.args, i.results, i.imm, i.flags, i.offset)
                          if (i.loc is None and i.srcloc is None and i.comment is None and i.cond is None
                              and i.code is None and i.func_ref is None and i.sig_ref is None
                              and i.stack_slot is None and i.global_value is None and i.jump_table is None
                              and i.dests is None and i.rmw_op is None and i.mask is None and i.exception is None
                              and i.heap is None and i.table is None and i.size is None and i.stack_map is None
                              and i.comments_before is None and i.block is None and i.debug_tags is None)
                          else (i.opcode, i.ctrl_type, i.args, i.results, i.loc, i.srcloc, i.comment, i.imm, i.cond,
                                i.flags, i.offset, i.code, i.func_ref, i.sig_ref, i.stack_slot, i.global_value,
                                i.jump_table, i.dests, i.rmw_op, i.mask, i.exception, i.heap, i.table, i.size,
                                i.stack_map, i.comments_before, i.block, i.debug_tags)
                          for i in self.insts],
                         self.number, self.params, [], self.cold, self.loc, self.comments, self.comment))


# What an engine caches on a function, beside its fields (`interpreter.machine.frame_layout` keeps
# the frame layout there, so that it dies with the function): worked out again on need, so a
# function pickled or copied goes without it. The native worker, unpickling a fuzz batch, would
# otherwise import the interpreter to rebuild it, and a copy the reducer edits keep a stale one.
FRAME_LAYOUT_CACHE = "_frame_layout"
ENGINE_CACHES = frozenset({FRAME_LAYOUT_CACHE})


@dataclass
class Function:
    """A CLIF function: its signature, preamble entities, blocks and value types."""

    name: str  # "%foo" or "u0:1"
    signature: Signature
    loc: Optional[Location] = None
    stack_slots: dict[int, StackSlotData] = field(default_factory=dict)
    dynamic_stack_slots: dict[int, DynamicStackSlotData] = field(default_factory=dict)
    dynamic_types: dict[int, DynamicTypeData] = field(default_factory=dict)
    global_values: dict[int, GlobalValueData] = field(default_factory=dict)
    signatures: dict[int, Signature] = field(default_factory=dict)
    func_refs: dict[int, ExtFuncData] = field(default_factory=dict)
    constants: dict[int, bytes] = field(default_factory=dict)
    heaps: dict[int, HeapData] = field(default_factory=dict)
    tables: dict[int, TableData] = field(default_factory=dict)
    jump_tables: dict[int, list[int]] = field(default_factory=dict)  # heap era: jtN -> its blocks
    alias_regions: dict[int, tuple[int, str]] = field(default_factory=dict)  # regionN -> (user id, name)
    # Proof-carrying code (Cranelift 0.103 to 0.133, `pcc.py`): memory types, facts on values and on
    # global values. No engine looks at them.
    memory_types: dict[int, MemoryTypeData] = field(default_factory=dict)
    facts: dict[int, Fact] = field(default_factory=dict)
    global_value_facts: dict[int, Fact] = field(default_factory=dict)
    stack_limit: Optional[int] = None  # a global value number
    blocks: dict[int, Block] = field(default_factory=dict)  # in layout order
    value_types: dict[int, Type] = field(default_factory=dict)
    aliases: dict[int, int] = field(default_factory=dict)  # v_alias -> v_target
    # Comments attached to preamble entities ("ss0", "gv1", ...) and instructions (by result or position).
    entity_comments: dict[str, str] = field(default_factory=dict)
    # Comment lines just before a preamble entity or a value alias ("ss0", "v3", "stack_limit").
    entity_comments_before: dict[str, list[str]] = field(default_factory=dict)
    # Where the reader found each preamble entity ("ss0", "gv1", "stack_limit") and value alias ("v3").
    entity_locs: dict[str, Location] = field(default_factory=dict, repr=False, compare=False)
    comment: Optional[str] = None  # the comment on the `function ... {` line
    end_comments: list[str] = field(default_factory=list)  # comment lines just before the closing brace

    def __getstate__(self) -> dict:
        state = self.__dict__
        if not ENGINE_CACHES.isdisjoint(state):
            state = {k: v for k, v in state.items() if k not in ENGINE_CACHES}
        return state

    @property
    def entry(self) -> Optional[Block]:
        return next(iter(self.blocks.values()), None)

    def resolve(self, value: int) -> int:
        """Follow aliases to the value that is really defined."""
        seen = 0
        while value in self.aliases and seen < len(self.aliases) + 1:
            value = self.aliases[value]
            seen += 1
        return value

    def instructions(self):
        for block in self.blocks.values():
            yield from block.insts


# -- a whole .clif file ------------------------------------------------------


@dataclass
class Directive:
    """A structured comment: ``; run: ...``, ``; print: ...``, ``; heap: ...``, read once by the reader.

    `parsed` is what the reader made of it (`reader.directives.read`): a ``RunCommand`` for run and
    print, the ``DirectiveFields`` of a heap or table directive, None for other kinds; or `error`,
    the located problem that kept it from being read. A directive built in code is read on first
    use by `reader.directives.read`, which fills both in."""

    kind: str  # "run", "print", "heap", ... (as written: "HEAP" for a near miss in `TestFile.directives`)
    text: str  # everything after "kind:"
    loc: Location  # of the first character of `text`
    parsed: object = field(default=None, compare=False, repr=False)
    error: Optional[ClifError] = field(default=None, compare=False, repr=False)
    read: bool = field(default=False, compare=False, repr=False)  # `parsed` / `error` are filled in
    word_loc: Optional[Location] = field(default=None, compare=False, repr=False)  # of `kind`
    has_colon: bool = field(default=True, compare=False, repr=False)  # False: a bare ``; run``
    after_code: bool = field(default=False, compare=False, repr=False)  # ``} ; heap: ...``: code precedes it
    # The function directly below it, with only comment lines between (the name as written), or None.
    above: Optional[str] = field(default=None, compare=False, repr=False)

    @property
    def line(self) -> int:
        return self.loc.line


@dataclass
class TestCommand:
    """``test interpret``, ``test run``, ``test compile precise-output`` ..."""

    name: str
    options: list[str]
    loc: Location
    comments_before: list[str] = field(default_factory=list)  # comment lines just before this line
    comment: Optional[str] = None  # the comment on this line


@dataclass
class IsaSpec:
    """A ``set`` line (flags) or a ``target`` line (an ISA and its feature flags)."""

    kind: str  # "set" or "target"
    words: list[str]  # "set opt_level=speed" -> ["opt_level=speed"]; "target x86_64 has_avx" -> ["x86_64", "has_avx"]
    loc: Location
    comments_before: list[str] = field(default_factory=list)  # comment lines just before this line
    comment: Optional[str] = None  # the comment on this line


@dataclass
class FunctionDetails:
    """A function as it stands in a file: with the comments and directives around it."""

    function: Function
    directives: list[Directive] = field(default_factory=list)
    comments_before: list[str] = field(default_factory=list)  # free comment lines before `function`
    comments_after: list[str] = field(default_factory=list)  # non-directive comments after the closing brace
    # Everything after the closing brace in file order: directives, comments, and "" for a blank
    # line separating groups (the printer writes this; the two lists above are its parts by kind).
    trailer: list[Union[Directive, str]] = field(default_factory=list)


@dataclass
class TestFile:
    """A parsed .clif file: its test and target lines, functions and directives."""

    path: str
    commands: list[TestCommand] = field(default_factory=list)
    isa_specs: list[IsaSpec] = field(default_factory=list)
    functions: list[FunctionDetails] = field(default_factory=list)
    preamble_comments: list[str] = field(default_factory=list)  # comments before the first function
    # The text the reader read (None for a file built in code), and the file's line it starts at.
    source: Optional[str] = field(default=None, repr=False, compare=False)
    first_line: int = field(default=1, repr=False, compare=False)
    # Every directive-shaped comment of the file in line order (``; word:``, a bare ``; run``), read
    # once: those attached to a function are the same objects as its `FunctionDetails.directives`;
    # the others (inside a body, before the first function, after code, near misses such as
    # ``; HEAP:``) are what the verifier reports.
    directives: list[Directive] = field(default_factory=list, repr=False, compare=False)


def reachable(entry: Function, functions: Mapping[str, Function]) -> list[Function]:
    """`entry` and every function of the file it can reach (calls, tail calls, ``func_addr``,
    ``symbol`` global values), `entry` first, then in the order they are found."""
    seen = {entry.name: entry}
    order = [entry]
    for func in order:
        names = [ext.name.text for ext in func.func_refs.values()]
        names += [gv.name.text for gv in func.global_values.values() if gv.kind == "symbol" and gv.name is not None]
        for name in names:
            callee = functions.get(name)
            if callee is not None and name not in seen:
                seen[name] = callee
                order.append(callee)
    return order
