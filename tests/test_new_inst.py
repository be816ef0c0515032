"""`ir.function.new_inst`, the fast constructor the fuzz generator (and the reader) build
instructions with, makes the instruction `Inst(...)` makes, field for field."""

from clifkit.ir.function import Inst, new_inst
from clifkit.ir.opcodes import OPCODES
from clifkit.ir.types import I32


def _fields(inst: Inst) -> list:
    return [getattr(inst, name) for name in Inst.__slots__]


def test_new_inst_makes_what_inst_makes():
    op = OPCODES["icmp_imm"]
    args, results = [1], [2]
    fast = new_inst(op, I32, args, results, imm=-7, cond="slt", offset=3, code="user1")
    assert _fields(fast) == _fields(Inst(op, I32, [1], [2], imm=-7, cond="slt", offset=3, code="user1"))
    assert fast.args is args and fast.results is results  # kept, not copied
    # By position, as the generator passes them (imm, cond, flags, offset, code).
    assert _fields(new_inst(op, I32, [1], [2], -7, "slt", None, 3, "user1")) == _fields(fast)
    # Without immediates every other field is None, as Inst's.
    assert _fields(new_inst(op, None, [], [])) == _fields(Inst(op))
