"""Floats as floats: scalar f32/f64 values kept as Python floats in the generated code.

Values normally travel as bit patterns (`registry`), so every float operation
would unpack its operands and pack its result with `struct`.  Here the compiler
decides, per SSA value, a *representation*:

* **float**: the local holds a Python float whose value is exactly the CLIF
  value.  The results of fadd fsub fmul fdiv sqrt fpromote fdemote
  (scalar f32/f64) are always floats; constants and (f64 only) other
  single-result producers are floats when some use wants a float; a block
  parameter other than the entry's is a float when every incoming argument is.
* **bits**: everything else, as before.

The compiler uses this only in a function with a loop or recursion: in one
whose code runs once per call, every float stays bits (the exact path), which
costs less to compile than the analysis and conversions save.

`FunctionCompiler.val` converts a float to bits wherever bits are needed
(stores, returns, calls, bitcasts, fneg/fabs/fcopysign, every op not listed
here), and `fval` converts bits to a float for the fast ops.

Why this is exact
-----------------
Every float-represented value encodes its bits exactly: an f64 is a Python
float bit for bit (`struct` packs and unpacks binary64 by copying), an
arithmetic result is canonical (a NaN result is replaced by the positive quiet
NaN, the reference's rule 1 in `softfloat`), an f32 constant is taken as a
float only when it is not a signalling NaN (a signalling f32 NaN does not
survive the widening: ``0x7f800001`` comes back ``0x7fc00001``), and a block
parameter is a float only when all its incoming values are.  Bits turned into
a float only feed the fast ops, for which a quietened NaN input gives the same
canonical NaN result.

f32 arithmetic is done in binary64 and rounded once to binary32 (exact for
add/sub/mul/div/sqrt since 53 >= 2*24 + 2); the rounding is `struct.pack('f')`,
whose OverflowError (exactly when the value rounds to infinity) gives the
signed infinity.

A NaN result is made canonical where it is produced, except where every use
(through block parameters too) is a fast op: those give the canonical NaN for
any NaN operand, so the check is left out.  Python raises on
``x / 0`` and ``sqrt(-1)``; those take a helper.  fmin/fmax return a NaN
operand with its sign and payload, so they stay on bits.

`HOST_OK` is a start-up self-test: the fast path is used only when the host's
floats are IEEE binary64 with round-to-nearest-even, subnormals, bit-exact
`struct` round trips and the expected `pack('f')` rounding.  The exact
`softfloat` functions stay the reference; ``python -m benchmarks --differential``
and tests/test_float_repr.py compare the two bit for bit.
"""

from __future__ import annotations

import math
import struct
import sys

_D, _Q, _F, _I = struct.Struct("<d"), struct.Struct("<Q"), struct.Struct("<f"), struct.Struct("<I")

NAN = _D.unpack(_Q.pack(0x7FF8000000000000))[0]  # f64 canonical NaN; as an f32 it packs to 0x7fc00000
# The smallest binary64 magnitude that rounds to f32 infinity: FLT_MAX + half an ulp (a tie,
# which rounds to the even neighbour, infinity).
F32_LIMIT = float.fromhex("0x1.fffffep127") + 2.0**103

# fmin/fmax are not here: they return a NaN operand itself (sign and payload, `softfloat.min_max_nan`),
# which a float-held NaN does not keep, so they take the exact path on bits.
ARITH = frozenset({"fadd", "fsub", "fmul", "fdiv", "sqrt", "fpromote", "fdemote"})
FAST = ARITH | {"fcmp"}
_BINOP = {"fadd": "+", "fsub": "-", "fmul": "*"}
_FCMP = {
    "eq": "{0} == {1}", "ne": "{0} != {1}", "lt": "{0} < {1}", "le": "{0} <= {1}",
    "gt": "{0} > {1}", "ge": "{0} >= {1}",
    "uno": "{0} != {0} or {1} != {1}", "ord": "{0} == {0} and {1} == {1}",
    "one": "{0} < {1} or {0} > {1}", "ueq": "not ({0} < {1} or {0} > {1})",
    "ult": "not {0} >= {1}", "ule": "not {0} > {1}", "ugt": "not {0} <= {1}", "uge": "not {0} < {1}",
}  # fmt: skip


def _inf(r: float) -> float:
    """The infinity a finite `r` too large for binary32 rounds to."""
    return math.copysign(math.inf, r)


def _div0(x: float, y: float) -> float:
    """x / y for y = ±0 (Python raises): NaN for 0/0 and NaN/0, else an infinity signed by both."""
    if x != x or x == 0.0:
        return NAN
    return math.copysign(math.inf, x) * math.copysign(1.0, y)


RUNTIME = {
    "_fr_ud": _D.unpack, "_fr_pd": _D.pack, "_fr_uq": _Q.unpack, "_fr_pq": _Q.pack,
    "_fr_uf": _F.unpack, "_fr_pf": _F.pack, "_fr_ui": _I.unpack, "_fr_pi": _I.pack,
    "_fr_nan": NAN, "_fr_inf": _inf, "_fr_div0": _div0,
    "_fr_sqrt": math.sqrt,
}  # fmt: skip


def to_bits(expr: str, bits: int) -> str:
    if bits == 64:
        return f"_xuq(_xpd({expr}))[0]"
    return f"_xui(_xpf({expr}))[0]"


def to_float(expr: str, bits: int) -> str:
    if bits == 64:
        return f"_xud(_xpq({expr}))[0]"
    return f"_xuf(_xpi({expr}))[0]"


# The struct functions, made locals of a generated function that uses them (a local is read
# faster than a global).
_LOCALS = ("uq", "pd", "ui", "pf", "ud", "pq", "uf", "pi")


def prologue(text: str) -> list[str]:
    """Lines binding the locals the generated function body `text` uses."""
    used = [n for n in _LOCALS if f"_x{n}(" in text]
    if not used:
        return []
    return [f"    {', '.join('_x' + n for n in used)} = {', '.join('_fr_' + n for n in used)}"]


def _self_test() -> bool:
    """Whether host floats behave as the fast path assumes (see the module docstring)."""
    try:
        info = sys.float_info
        if (info.radix, info.mant_dig, info.max_exp, info.min_exp) != (2, 53, 1024, -1021):
            return False
        eps = 2.0**-53
        if 1.0 + eps != 1.0 or 1.0 + 3 * eps != 1.0 + 4 * eps or -1.0 - eps != -1.0:
            return False  # round to nearest, ties to even, in both directions
        if 2.0**-1074 / 2.0 != 0.0 or 2.0**-1022 / 2.0 != 2.0**-1023 or 2.0**-1074 <= 0.0:
            return False  # gradual underflow, no flush to zero
        if _Q.unpack(_D.pack(1.0 / 3.0))[0] != 0x3FD5555555555555:
            return False
        for b in (0x7FF0000000000001, 0xFFF4000000000123, 0x8000000000000000, 1):
            if _Q.unpack(_D.pack(_D.unpack(_Q.pack(b))[0]))[0] != b:
                return False  # bits survive the round trip, even a signalling NaN's
        if _I.unpack(_F.pack(1.0 + 2.0**-24))[0] != 0x3F800000 or _I.unpack(_F.pack(2.0**-150 * 3))[0] != 2:
            return False  # pack('f') rounds to nearest even, also to subnormals
        if _I.unpack(_F.pack(NAN))[0] != 0x7FC00000 or _I.unpack(_F.pack(-0.0))[0] != 0x80000000:
            return False
        _F.pack(math.nextafter(F32_LIMIT, 0.0))
        try:
            _F.pack(F32_LIMIT)
            return False
        except OverflowError:
            pass
        return math.sqrt(2.0) == float.fromhex("0x1.6a09e667f3bcdp+0")
    except Exception:
        return False


HOST_OK = _self_test()
ENABLED = HOST_OK  # the compiler's switch (tests turn it off to compare with the bit-pattern path)


# -- the analysis --------------------------------------------------------------------


def _float_bits(t) -> int:
    if t is None or t.is_vector or t.name not in ("f32", "f64"):
        return 0
    return t.bits


def _scalar_fast(inst, func) -> bool:
    """Whether `inst` is a fast op here: every operand and result a scalar f32/f64 (fcmp: i8 result)."""
    op = inst.opcode.name
    if op not in FAST:
        return False
    types = [func.value_types.get(func.resolve(a)) for a in inst.args]
    if not types or not all(_float_bits(t) for t in types):
        return False
    if op == "fcmp":
        return True
    return len(inst.results) == 1 and bool(_float_bits(func.value_types.get(inst.results[0])))


def analyse(fc) -> tuple[dict[int, int], set[int]]:
    """The float-represented values of the function `fc` compiles (value -> 32 or 64), and
    the f64 arithmetic results that need no NaN check: those whose every use, through block
    parameters, is a fast op, which gives the canonical NaN for any NaN operand.

    `fc` has run its control-flow analysis (`reachable`, `entry`)."""
    if not ENABLED:
        return {}, set()
    func = fc.func
    if not any(_float_bits(t) for t in set(func.value_types.values())):
        return {}, set()  # no scalar float at all
    resolve, vtypes = func.resolve, func.value_types
    arith: dict[int, int] = {}
    _checked_ops: set[int] = set()  # results of the ops that may make a non-canonical NaN
    candidate: dict[int, int] = {}  # constants and other producers that could be floats
    params: dict[int, int] = {}
    incoming: dict[int, list] = {}  # block param -> incoming values (None: not a plain value)
    float_uses: set[int] = set()  # values some fast op reads
    other_uses: set[int] = set()  # values something else reads (as bits)
    edge_uses: dict[int, set[int]] = {}  # value -> params it is passed to
    for number in fc.reachable:
        block = fc.blocks[number]
        if number != fc.entry:
            for p in block.params:
                bits = _float_bits(vtypes.get(p))
                if bits:
                    params[p] = bits
        for inst in block.insts:
            op = inst.opcode.name
            fast = _scalar_fast(inst, func)
            if fast:
                float_uses.update(resolve(a) for a in inst.args)
            else:
                other_uses.update(resolve(a) for a in inst.args)
            if fast:
                if op != "fcmp":
                    arith[inst.results[0]] = _float_bits(vtypes.get(inst.results[0]))
                    if op != "sqrt":
                        _checked_ops.add(inst.results[0])
            elif len(inst.results) == 1 and not inst.opcode.is_call and not inst.opcode.is_terminator:
                r = inst.results[0]
                bits = _float_bits(vtypes.get(r))
                if op in ("f32const", "f64const"):
                    if bits == 64 or not _is_snan32(int(inst.imm) & 0xFFFFFFFF):
                        candidate[r] = bits
                elif bits == 64:
                    candidate[r] = bits
            for bc in inst.branch_targets() if inst.opcode.is_branch else ():
                for p, a in zip(fc.blocks[bc.block].params, bc.args):
                    incoming.setdefault(p, []).append(resolve(a) if isinstance(a, int) else None)
                    if isinstance(a, int):
                        edge_uses.setdefault(resolve(a), set()).add(p)
    # f64 parameters: floats when some fast op wants them, directly or through other parameters
    # (any incoming f64 converts exactly).  f32 parameters: floats while every incoming value
    # may be one (a signalling NaN would not survive the conversion).
    floats = {p for p, bits in params.items() if bits == 64 and p in float_uses}
    changed = True
    while changed:
        changed = False
        for p, bits in params.items():
            if bits == 64 and p not in floats and edge_uses.get(p, set()) & floats:
                floats.add(p)
                changed = True
    narrow = {p for p, bits in params.items() if bits == 32}
    changed = True
    while changed:
        changed = False
        for p in list(narrow):
            for a in incoming.get(p, [None]):
                if a is None or not (a in arith or a in candidate or a in narrow or a in floats):
                    narrow.discard(p)
                    changed = True
                    break
    floats |= narrow
    result = dict(arith)
    result.update((p, params[p]) for p in floats)
    for v, bits in candidate.items():
        if v in float_uses or edge_uses.get(v, set()) & floats:
            result[v] = bits
    # A candidate left as bits cannot feed a float parameter (it would have been kept).
    safe = {v for v in result if v not in other_uses}
    changed = True
    while changed:
        changed = False
        for v in list(safe):
            if any(p not in safe for p in edge_uses.get(v, ())):
                safe.discard(v)
                changed = True
    unchecked = {v for v in safe if v in _checked_ops}
    return result, unchecked


def _is_snan32(b: int) -> bool:
    return (b & 0x7F800000) == 0x7F800000 and (b & 0x7FFFFF) != 0 and not b & 0x400000


# -- emission --------------------------------------------------------------------------


def constant(inst, bits: int) -> float:
    """The value of an f32const/f64const taken as a float (never a signalling f32 NaN, see `analyse`)."""
    b = int(inst.imm) & ((1 << bits) - 1)
    return _D.unpack(_Q.pack(b))[0] if bits == 64 else _F.unpack(_I.pack(b))[0]


def foldable(inst, fc) -> bool:
    """Whether `inst` is a fast op whose result is one expression (no NaN check, no rounding),
    which the compiler may fold into its use (see FunctionCompiler.find_foldable)."""
    return (inst.opcode.name in _BINOP and len(inst.results) == 1 and inst.results[0] in fc.nan_unchecked
            and fc.floats.get(inst.results[0]) == 64)


def emit(fc, inst, ind: int, out) -> bool:
    """Emit a fast op as float code; False when `inst` is not one (the ordinary path follows)."""
    if not ENABLED or not _scalar_fast(inst, fc.func):
        return False
    op = inst.opcode.name
    resolve = fc.func.resolve
    if op not in _BINOP:  # these read an operand more than once: a folded one becomes a statement
        for a in inst.args:
            if resolve(a) in fc.folded:
                out.append((ind, f"v{resolve(a)} = {fc.folded.pop(resolve(a))}"))
    depth = 1 + max(fc.fold_depth.get(resolve(a), 0) for a in inst.args)
    args = [fc.fval(a) for a in inst.args]
    if op in _BINOP and inst.results[0] in fc.foldable and depth <= fc.max_fold_depth:
        fc.folded[inst.results[0]] = f"{args[0]} {_BINOP[op]} {args[1]}"
        fc.fold_depth[inst.results[0]] = depth
        return True
    if op == "fcmp":
        cond = _FCMP[inst.cond].format(*args)
        out.append((ind, f"v{inst.results[0]} = (1 if {cond} else 0)"))
        return True
    r = f"v{inst.results[0]}"
    bits = _float_bits(fc.func.value_types.get(inst.results[0]))
    if op in _BINOP:
        out.append((ind, f"{r} = {args[0]} {_BINOP[op]} {args[1]}"))
    elif op == "fdiv":
        out.append((ind, f"{r} = {args[0]} / {args[1]} if {args[1]} else _fr_div0({args[0]}, {args[1]})"))
    elif op == "sqrt":
        out.append((ind, f"{r} = _fr_sqrt({args[0]}) if {args[0]} >= 0.0 else _fr_nan"))
    else:  # fpromote, fdemote
        out.append((ind, f"{r} = {args[0]}"))
    if bits == 32:
        # Rounded to binary32; pack('f') raises exactly when the result rounds to infinity (a
        # try costs nothing until it catches), and leaves a NaN some NaN.
        out.append((ind, f"try: {r} = _xuf(_xpf({r}))[0]"))
        out.append((ind, f"except OverflowError: {r} = _fr_inf({r})"))
    if op != "sqrt" and inst.results[0] not in fc.nan_unchecked:
        out.append((ind, f"if {r} != {r}: {r} = _fr_nan"))
    return True
