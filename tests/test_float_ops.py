"""The scalar float lowerings, called through hand-built OpContexts (no reader involved).

Expected values follow the Cranelift 0.120 run-test corpus where it has them
(fneg.clif, fcopysign.clif, conversion.clif, i128-conversion.clif, ...).
"""

from __future__ import annotations

import struct

import pytest

from clifkit.interpreter import float_ops
from clifkit.interpreter import softfloat as sf
from clifkit.interpreter.registry import LOWERINGS, OpContext, Trap
from clifkit.ir.function import Function, Inst, Signature
from clifkit.ir.opcodes import OPCODES
from clifkit.ir.types import F16, F32, F64, F128, I8, I16, I32, I64, I128, Type

F32X4 = Type.get("f", 32, 4)
I32X4 = Type.get("i", 32, 4)

FLOAT_OPCODES = [
    "f16const", "f32const", "f64const", "f128const", "fadd", "fsub", "fmul", "fdiv", "sqrt", "fma",
    "fneg", "fabs", "fcopysign", "fmin", "fmax", "ceil", "floor", "trunc", "nearest", "fcmp",
    "fpromote", "fdemote", "fcvt_to_uint", "fcvt_to_sint", "fcvt_to_uint_sat", "fcvt_to_sint_sat",
    "fcvt_from_uint", "fcvt_from_sint",
]  # fmt: skip


h = float.fromhex  # hexadecimal float literals, as CLIF writes them


def f32(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def f16(x: float) -> int:
    return struct.unpack("<H", struct.pack("<e", x))[0]


def lower(name, ctrl, arg_types, result_types, constants=None, **fields):
    """Lower one instruction; return a Python callable of the operand values."""
    n = len(arg_types)
    inst = Inst(OPCODES[name], ctrl, args=list(range(n)), results=list(range(n, n + len(result_types))), **fields)
    function = Function("%t", Signature())
    if constants:
        function.constants.update(constants)
    lowered = LOWERINGS[name](OpContext(inst, function, ctrl, list(arg_types), list(result_types)))
    if isinstance(lowered, str):
        names = [f"v{i}" for i in range(n)]
        code = compile(lowered.format(*names), "<template>", "eval")

        def run(*values):
            return eval(code, {}, dict(zip(names, values)))

        run.template = lowered
        return run
    assert callable(lowered)
    return lowered


def binary(name, ty):
    return lower(name, ty, [ty, ty], [ty])


def unary(name, ty):
    return lower(name, ty, [ty], [ty])


def test_every_scalar_float_opcode_is_registered():
    for name in FLOAT_OPCODES:
        assert LOWERINGS[name].__module__ == float_ops.__name__, name


# -- constants -------------------------------------------------------------------


def test_constants_are_raw_bits():
    assert lower("f32const", None, [], [F32], imm=0x7F800001)() == 0x7F800001  # sNaN kept as written
    assert lower("f64const", None, [], [F64], imm=f64(-2.5))() == f64(-2.5)
    assert lower("f16const", None, [], [F16], imm=0xFE00)() == 0xFE00
    assert lower("f32const", None, [], [F32], imm=f32(1.5)).template == hex(f32(1.5))


def test_f128const_from_pool_and_bytes():
    one = sf.F128.one
    data = one.to_bytes(16, "little")
    assert lower("f128const", None, [], [F128], constants={3: data}, imm=3)() == one
    assert lower("f128const", None, [], [F128], imm=data)() == one
    neg_nan = (sf.F128.sign | sf.F128.nan).to_bytes(16, "little")
    assert lower("f128const", None, [], [F128], imm=bytearray(neg_nan))() == sf.F128.sign | sf.F128.nan
    with pytest.raises(ValueError):
        lower("f128const", None, [], [F128], imm=b"\x00" * 8)


# -- arithmetic --------------------------------------------------------------------


def test_fadd_f32_f64_corpus_values():
    add32, add64 = binary("fadd", F32), binary("fadd", F64)
    assert add32(f32(h("0x1.5p0")), f32(h("0x2.9p0"))) == f32(h("0x1.Fp1"))
    assert add32(f32(-h("0x1.99999Ap-2")), f32(-h("0x1.4CCCCCp0"))) == f32(-h("0x1.B33332p0"))
    assert add32(0x7F7FFFFF, 0x7F7FFFFF) == 0x7F800000
    assert add32(0x00400000, 0x80400001) == 0x80000001
    assert add64(f64(h("0x1.0p-1022")), f64(h("0x1.0p-1022"))) == f64(h("0x1.0p-1021"))
    assert add64(f64(-h("0x1.999999999999Ap-2")), f64(-h("0x1.4CCCCCCCCCCCDp0"))) == f64(-h("0x1.B333333333334p0"))
    assert add64(0, 0x8000000000000000) == 0 and add64(0x8000000000000000, 0x8000000000000000) == 0x8000000000000000
    assert add32(0x7F800000, 0xFF800000) == sf.F32.nan


def test_other_binary_ops():
    assert binary("fsub", F64)(f64(0.5), f64(1.0)) == f64(-0.5)
    assert binary("fmul", F32)(f32(h("0x1.5p0")), f32(h("0x2.9p0"))) == f32(h("0x1.5p0") * h("0x2.9p0"))
    assert binary("fdiv", F64)(f64(1.0), f64(3.0)) == f64(1.0 / 3.0)
    assert binary("fdiv", F64)(f64(-1.0), 0) == f64(-float("inf"))
    assert binary("fdiv", F32)(0, 0x80000000) == sf.F32.nan
    assert unary("sqrt", F64)(f64(2.0)) == f64(2.0**0.5)
    assert unary("sqrt", F32)(0x80000000) == 0x80000000
    # f16 (f16-arithmetic.clif)
    assert binary("fsub", F16)(f16(h("0x0.5p0")), f16(1.0)) == f16(-h("0x1.600p-1"))
    assert binary("fmul", F16)(f16(h("0x1.5p0")), f16(h("0x2.9p0"))) == f16(h("0x1.AE8p1"))
    assert binary("fdiv", F16)(f16(h("0x1.5p0")), f16(h("0x2.9p0"))) == f16(h("0x1.064p-1"))
    assert unary("sqrt", F16)(f16(9.0)) == f16(3.0)
    # f128
    three = sf.from_int(sf.F128, 3, 8, False)
    assert binary("fdiv", F128)(sf.F128.one, three) == 0x3FFD5555555555555555555555555555
    assert binary("fadd", F128)(sf.F128.one, sf.F128.one) == sf.from_int(sf.F128, 2, 8, False)


def test_fma():
    fma64 = lower("fma", F64, [F64] * 3, [F64])
    assert fma64(f64(4.0), f64(4.0), binary("fmul", F64)(f64(3.0), f64(3.0))) == f64(25.0)  # examples/floats.clif
    one_ulp = f64(1.0 + 2.0**-52)
    assert fma64(one_ulp, one_ulp, f64(-1.0)) == f64(2.0**-51 + 2.0**-104)
    fma16 = lower("fma", F16, [F16] * 3, [F16])
    assert fma16(f16(7.0), f16(8.0), f16(9.0)) == f16(h("0x1.040p6"))  # f16-fma.clif
    assert fma16(f16(-7.0), f16(8.0), f16(-9.0)) == f16(-h("0x1.040p6"))
    fma32 = lower("fma", F32, [F32] * 3, [F32])
    assert fma32(0x3F8007E0, 0x337FF041, f32(1.0)) == 0x3F800001  # binary64 then f32 would give 1.0
    assert fma32(sf.F32.inf, 0, f32(1.0)) == sf.F32.nan


def test_min_max():
    fmin32, fmax32 = binary("fmin", F32), binary("fmax", F32)
    assert fmin32(0, 0x80000000) == 0x80000000 and fmax32(0x80000000, 0) == 0  # examples/floats.clif
    assert fmin32(f32(1.0), 0xFF800000) == 0xFF800000
    assert fmin32(f32(1.0), 0xFF800001) == 0xFFC00001  # the NaN operand, quieted (softfloat rule 1b)
    assert fmax32(0xFFC00000, f32(1.0)) == 0xFFC00000
    fmin64 = binary("fmin", F64)
    assert fmin64(f64(-0.0), f64(0.0)) == f64(-0.0)
    assert binary("fmax", F128)(sf.F128.sign, 0) == 0


# -- sign-bit operations -----------------------------------------------------------------


def test_sign_ops_are_templates_and_keep_payloads():
    fneg32, fabs32, copy32 = unary("fneg", F32), unary("fabs", F32), binary("fcopysign", F32)
    assert isinstance(fneg32.template, str) and isinstance(copy32.template, str)
    assert fneg32(0x7F800001) == 0xFF800001  # fneg(+sNaN:0x1) == -sNaN:0x1 (fneg.clif)
    assert fneg32(0xFFC00001) == 0x7FC00001
    assert fabs32(0xFFA00001) == 0x7FA00001
    assert copy32(0, 0xFFC00000) == 0x80000000  # fcopysign(0.0, -NaN) == -0.0 (fcopysign.clif)
    assert copy32(f32(3.0), 0x7F800001) == f32(3.0)
    assert copy32(0x7F800000, 0xFFC00000) == 0xFF800000
    assert unary("fneg", F64)(f64(1.0)) == f64(-1.0)
    assert unary("fabs", F16)(0x8000) == 0 and unary("fneg", F16)(0) == 0x8000
    assert unary("fneg", F128)(sf.F128.inf | 1) == sf.F128.sign | sf.F128.inf | 1
    assert binary("fcopysign", F128)(sf.F128.one, sf.F128.sign) == sf.F128.sign | sf.F128.one


# -- rounding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,x,want",
    [
        ("ceil", -h("0x0.5p0"), -0.0), ("ceil", h("0x1.5p0"), 2.0), ("ceil", h("0x0.800000p-126"), 1.0), ("ceil", -h("0x0.800002p-126"), -0.0),
        ("floor", -h("0x0.5p0"), -1.0), ("floor", h("0x1.8p0"), 1.0), ("floor", -h("0x0.0p0"), -0.0),
        ("trunc", -h("0x1.8p0"), -1.0), ("trunc", h("0x1.fffffep127"), h("0x1.fffffep127")), ("trunc", -h("0x0.1p0"), -0.0),
        ("nearest", h("0x1.8p0"), 2.0), ("nearest", h("0x1.4p1"), 2.0), ("nearest", -h("0x1.4p1"), -2.0), ("nearest", h("0x1.0p-1"), 0.0),
        ("nearest", -h("0x1.0p-1"), -0.0), ("nearest", h("0x1.000002p-1"), 1.0), ("nearest", h("0x1.fffffep22"), h("0x1.0p23")),
    ],
)  # fmt: skip
def test_rounding_f32(name, x, want):
    assert unary(name, F32)(f32(x)) == f32(want)
    assert unary(name, F64)(f64(x)) == f64(want)


def test_rounding_specials():
    for name in ("ceil", "floor", "trunc", "nearest"):
        for ty, fmt in ((F16, sf.F16), (F32, sf.F32), (F64, sf.F64), (F128, sf.F128)):
            fn = unary(name, ty)
            assert fn(fmt.inf) == fmt.inf and fn(fmt.sign | fmt.inf) == fmt.sign | fmt.inf
            assert fn(fmt.inf | 1) == fmt.nan and fn(fmt.sign) == fmt.sign


# -- comparison ----------------------------------------------------------------------------


def fcmp(cond, ty):
    return lower("fcmp", ty, [ty, ty], [I8], cond=cond)


def test_fcmp_all_conditions():
    one, two, nan = f64(1.0), f64(2.0), f64(float("nan"))
    table = {  # (1 vs 2, 2 vs 1, 1 vs 1, 1 vs NaN)
        "ord": (1, 1, 1, 0), "uno": (0, 0, 0, 1), "eq": (0, 0, 1, 0), "ne": (1, 1, 0, 1),
        "one": (1, 1, 0, 0), "ueq": (0, 0, 1, 1), "lt": (1, 0, 0, 0), "le": (1, 0, 1, 0),
        "gt": (0, 1, 0, 0), "ge": (0, 1, 1, 0), "ult": (1, 0, 0, 1), "ule": (1, 0, 1, 1),
        "ugt": (0, 1, 0, 1), "uge": (0, 1, 1, 1),
    }  # fmt: skip
    for cond, want in table.items():
        for ty, conv in ((F64, lambda b: b), (F32, lambda b: sf.convert(sf.F64, sf.F32, b))):
            fn = fcmp(cond, ty)
            got = (fn(conv(one), conv(two)), fn(conv(two), conv(one)), fn(conv(one), conv(one)), fn(conv(one), conv(nan)))
            assert got == want, (cond, ty)
            assert all(type(v) is int for v in got)


def test_fcmp_zeros_and_infinities():
    assert fcmp("eq", F32)(0, 0x80000000) == 1
    assert fcmp("lt", F32)(0x80000000, 0) == 0
    assert fcmp("lt", F32)(0xFF800000, 0x7F800000) == 1
    assert fcmp("ge", F16)(0x7C00, 0x7BFF) == 1
    assert fcmp("uno", F128)(sf.F128.nan, 0) == 1
    assert fcmp("gt", F128)(sf.F128.one, sf.F128.sign | sf.F128.one) == 1


# -- float <-> float ---------------------------------------------------------------------


def test_promote_demote():
    promote = lower("fpromote", F64, [F32], [F64])
    demote = lower("fdemote", F32, [F64], [F32])
    assert promote(f32(h("0x1.fffffep127"))) == f64(h("0x1.fffffep127"))
    assert promote(0x00000001) == f64(2.0**-149)
    assert promote(0xFF800001) == sf.F64.nan
    assert demote(f64(h("0x1.ffffff1p127"))) == 0x7F800000  # above the midpoint past max finite
    assert demote(f64(h("0x1.ffffffp127"))) == 0x7F800000  # the midpoint itself: ties to "even" Inf
    assert demote(f64(h("0x1.fffffefp127"))) == f32(h("0x1.fffffep127"))
    assert demote(f64(-h("0x1.0p-150"))) == 0x80000000  # a tie between -0 and the least subnormal
    assert demote(f64(h("0x1.000001p-150"))) == 1
    assert demote(0xFFF0000000000001) == sf.F32.nan
    assert lower("fpromote", F128, [F16], [F128])(0x3C00) == sf.F128.one
    assert lower("fdemote", F16, [F128], [F16])(sf.F128.max_finite) == sf.F16.inf
    assert lower("fdemote", F16, [F32], [F16])(f32(65519.0)) == 0x7BFF


# -- float -> int --------------------------------------------------------------------------


def to_int(name, float_ty, int_ty):
    return lower(name, int_ty, [float_ty], [int_ty])


def test_fcvt_to_int_corpus_values():
    s32 = to_int("fcvt_to_sint", F32, I32)
    assert s32(f32(h("0x1.d6f346p26"))) == 123456792
    assert s32(f32(-h("0x8.1p0"))) == (-8) & 0xFFFFFFFF
    assert s32(f32(-h("0x0.1p0"))) == 0
    assert s32(f32(-h("0x1.0p31"))) == 0x80000000
    assert to_int("fcvt_to_sint", F64, I32)(f64(h("0x1.fp3"))) == 15  # examples/floats.clif
    assert to_int("fcvt_to_sint", F64, I32)(f64(-h("0x1.8p0"))) == 0xFFFFFFFF
    assert to_int("fcvt_to_uint", F32, I8)(f32(-h("0x0.9p0"))) == 0
    assert to_int("fcvt_to_uint", F64, I64)(f64(h("0x1.0p63"))) == 1 << 63


def test_fcvt_to_int_traps():
    with pytest.raises(Trap) as e:
        to_int("fcvt_to_sint", F32, I32)(f32(h("0x1.0p31")))
    assert e.value.code == "int_ovf"
    with pytest.raises(Trap) as e:
        to_int("fcvt_to_uint", F64, I16)(f64(-1.0))
    assert e.value.code == "int_ovf"
    with pytest.raises(Trap) as e:
        to_int("fcvt_to_uint", F32, I32)(0xFFC00000)
    assert e.value.code == "bad_toint"
    with pytest.raises(Trap) as e:
        to_int("fcvt_to_sint", F16, I8)(0x7C00)
    assert e.value.code == "int_ovf"


@pytest.mark.parametrize("float_ty,conv", [(F32, f32), (F64, f64)])
def test_fcvt_sat_corpus_values(float_ty, conv):
    nan, inf = conv(float("nan")), conv(float("inf"))
    ninf = conv(float("-inf"))
    for int_ty, bits in ((I8, 8), (I16, 16), (I32, 32), (I64, 64)):
        s = to_int("fcvt_to_sint_sat", float_ty, int_ty)
        u = to_int("fcvt_to_uint_sat", float_ty, int_ty)
        assert s(nan) == 0 and s(nan ^ (1 << (float_ty.bits - 1))) == 0 and u(nan) == 0
        assert s(inf) == (1 << (bits - 1)) - 1 and s(ninf) == 1 << (bits - 1)
        assert u(inf) == (1 << bits) - 1 and u(ninf) == 0
        assert s(conv(-3.7)) == (-3) & ((1 << bits) - 1)
        assert u(conv(-3.7)) == 0


def test_fcvt_to_i128_follows_reference_interpreter():
    # i128-conversion.clif (test interpret): Cranelift's interpreter saturates to the i128
    # range first, so h("0x1.fffffep127") (about 2**128) gives i128::MAX for every form.
    big = f32(h("0x1.fffffep127"))
    for name in ("fcvt_to_uint", "fcvt_to_sint", "fcvt_to_uint_sat", "fcvt_to_sint_sat"):
        assert to_int(name, F32, I128)(big) == (1 << 127) - 1, name
    assert to_int("fcvt_to_sint", F32, I128)(f32(-h("0x1.fffffp31"))) == (-4294965248) & ((1 << 128) - 1)
    assert to_int("fcvt_to_sint", F32, I128)(f32(-h("0x1.0p63"))) == (-(1 << 63)) & ((1 << 128) - 1)
    assert to_int("fcvt_to_uint_sat", F32, I128)(f32(-h("0x1.fffffp31"))) == 0
    assert to_int("fcvt_to_uint", F32, I128)(f32(h("0x1.0p63"))) == 1 << 63
    assert to_int("fcvt_to_sint", F32, I128)(0xFF800000) == 1 << 127  # -Inf -> i128::MIN
    with pytest.raises(Trap):
        to_int("fcvt_to_uint", F32, I128)(f32(-1.0))
    with pytest.raises(Trap):
        to_int("fcvt_to_sint", F32, I128)(0x7FC00000)


def test_fcvt_to_i128_exact_when_switched_off(monkeypatch):
    monkeypatch.setattr(float_ops, "REFERENCE_I128_SATURATION", False)
    big = f32(h("0x1.fffffep127"))
    assert to_int("fcvt_to_uint", F32, I128)(big) == 0xFFFFFF00000000000000000000000000
    assert to_int("fcvt_to_uint_sat", F32, I128)(0x7F800000) == (1 << 128) - 1
    with pytest.raises(Trap) as e:
        to_int("fcvt_to_sint", F32, I128)(big)
    assert e.value.code == "int_ovf"


# -- int -> float ------------------------------------------------------------------------


def from_int(name, int_ty, float_ty):
    return lower(name, float_ty, [int_ty], [float_ty])


def test_fcvt_from_int_corpus_values():
    assert from_int("fcvt_from_sint", I8, F32)(0xFF) == f32(-1.0)
    assert from_int("fcvt_from_uint", I8, F32)(0xFF) == f32(h("0x1.FEp7"))
    assert from_int("fcvt_from_uint", I16, F32)(0xFFFF) == f32(h("0x1.FFFEp15"))
    assert from_int("fcvt_from_uint", I32, F32)(0xFFFFFFFF) == f32(h("0x1.0p32"))
    assert from_int("fcvt_from_uint", I64, F32)((1 << 64) - 1) == f32(h("0x1.0p64"))
    assert from_int("fcvt_from_sint", I64, F64)((1 << 64) - 1) == f64(-1.0)
    assert from_int("fcvt_from_uint", I64, F64)((1 << 64) - 1) == f64(h("0x1.0p64"))
    assert from_int("fcvt_from_sint", I128, F64)(1 << 127) == f64(-(2.0**127))
    assert from_int("fcvt_from_uint", I32, F16)(65520) == sf.F16.inf
    assert from_int("fcvt_from_sint", I32, F128)(0xFFFFFFFF) == sf.F128.sign | sf.F128.one
    # i64 -> f32 rounds once: 2**62 + 2**38 + 1 is just above a midpoint
    assert from_int("fcvt_from_uint", I64, F32)((1 << 62) + (1 << 38) + 1) == f32(2.0**62 + 2.0**39)
    assert from_int("fcvt_from_uint", I64, F32)((1 << 62) + (1 << 38)) == f32(2.0**62)


# -- vectors and lane functions --------------------------------------------------------------


def test_vector_types_are_left_to_vector_float_ops():
    """The scalar lowerings refuse vector types: those opcodes' vector forms are in vector_float_ops."""
    with pytest.raises(NotImplementedError):
        binary("fadd", F32X4)
    with pytest.raises(NotImplementedError):
        lower("fcmp", F32X4, [F32X4, F32X4], [I32X4], cond="eq")
    with pytest.raises(NotImplementedError):
        lower("fcvt_to_sint_sat", I32X4, [F32X4], [I32X4])


def test_lane_function_serves_vector_lowerings():
    def ctx(name, ctrl, args, results, **fields):
        inst = Inst(OPCODES[name], ctrl, args=[0] * len(args), results=[9], **fields)
        return OpContext(inst, Function("%t", Signature()), ctrl, args, results)

    add = float_ops.lane_function(ctx("fadd", F32X4, [F32X4, F32X4], [F32X4]))
    a, b = (f32(1.0), f32(2.0), 0, 0x7F800000), (f32(0.5),) * 4
    assert tuple(map(add, a, b)) == (f32(1.5), f32(2.5), f32(0.5), 0x7F800000)
    cmp = float_ops.lane_function(ctx("fcmp", F32X4, [F32X4, F32X4], [I32X4], cond="lt"))
    assert tuple(map(cmp, a, b)) == (0, 0, 1, 0)
    sat = float_ops.lane_function(ctx("fcvt_to_sint_sat", I32X4, [F32X4], [I32X4]))
    assert sat(f32(-2.5)) == 0xFFFFFFFE
