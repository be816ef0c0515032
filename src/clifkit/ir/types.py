"""CLIF value types: scalar integers and floats, fixed SIMD vectors, dynamic vectors.

A `Type` is immutable and interned, so types compare with `is` as well as `==`.
Names follow CLIF: ``i8`` .. ``i128``, ``f16`` .. ``f128``, ``i32x4`` (fixed
vector), ``i32x4xN`` (dynamic vector scaled at run time), and the heap-era
reference types ``r32`` and ``r64`` (opaque pointers; null is 0).
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

INT_BITS = (8, 16, 32, 64, 128)
FLOAT_BITS = (16, 32, 64, 128)
MAX_LANES = 256


class Type:
    """A CLIF value type. Construct with `Type.get` or `parse_type`; never directly."""

    # The classification below is computed once, when the type is interned (compilers and the
    # generator ask it for every value).
    __slots__ = ("kind", "lane_bits", "lanes", "dynamic", "name",
                 "is_int", "is_float", "is_ref", "is_vector", "is_scalar", "bits", "bytes", "lane_type")
    _interned: dict[tuple[str, int, int, bool], "Type"] = {}

    kind: str  # "i", "f", or "r" (a heap-era reference)
    lane_bits: int
    lanes: int  # 1 for scalars; the minimum lane count for dynamic vectors
    dynamic: bool
    name: str

    @classmethod
    def get(cls, kind: str, lane_bits: int, lanes: int = 1, dynamic: bool = False) -> "Type":
        key = (kind, lane_bits, lanes, dynamic)
        found = cls._interned.get(key)
        if found is None:
            found = object.__new__(cls)
            found.kind, found.lane_bits, found.lanes, found.dynamic = key
            name = f"{kind}{lane_bits}"
            if lanes > 1 or dynamic:
                name += f"x{lanes}"
            if dynamic:
                name += "xN"
            found.name = name
            found.is_int, found.is_float, found.is_ref = kind == "i", kind == "f", kind == "r"
            found.is_vector = lanes > 1 or dynamic
            found.is_scalar = not found.is_vector
            found.bits = lane_bits * lanes  # (of the minimum vector for dynamic types)
            found.bytes = found.bits // 8
            cls._interned[key] = found
            found.lane_type = found if lanes == 1 and not dynamic else cls.get(kind, lane_bits)
        return found

    def __repr__(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name

    def __reduce__(self):
        return (Type.get, (self.kind, self.lane_bits, self.lanes, self.dynamic))

    def passes_as(self, other: "Type") -> bool:
        """Whether a call passes a value of this type where `other` is declared: the same type, or
        another fixed vector of the same width, whose bits the callee reinterprets
        (docs/architecture.md, "Indirect calls")."""
        return self is other or (self.is_vector and other.is_vector and not self.dynamic
                                 and not other.dynamic and self.bits == other.bits)

    # -- classification (is_int, is_float, is_ref, is_vector, is_scalar, bits, bytes, lane_type:
    # set by `get`)
    # -- derived types, as the opcode table's type rules use them --------
    def by(self, lanes: int) -> Optional["Type"]:
        n = self.lanes * lanes
        return Type.get(self.kind, self.lane_bits, n, self.dynamic) if n <= MAX_LANES else None

    def with_lane(self, kind: str, lane_bits: int) -> Optional["Type"]:
        valid = INT_BITS if kind == "i" else FLOAT_BITS
        if lane_bits not in valid:
            return None
        return Type.get(kind, lane_bits, self.lanes, self.dynamic)

    def as_truthy(self) -> "Type":
        """The type of a comparison result: i8 for scalars, same-width integer lanes for vectors."""
        if self.is_scalar:
            return I8
        return Type.get("i", self.lane_bits, self.lanes, self.dynamic)

    def as_int(self) -> "Type":
        found = _AS_INT.get(self)  # (asked for every value the fuzz generator folds into a result)
        if found is None:
            found = _AS_INT[self] = Type.get("i", self.lane_bits, self.lanes, self.dynamic)
        return found

    def half_width(self) -> Optional["Type"]:
        return self.with_lane(self.kind, self.lane_bits // 2)

    def double_width(self) -> Optional["Type"]:
        return self.with_lane(self.kind, self.lane_bits * 2)

    def half_vector(self) -> Optional["Type"]:
        if self.lanes < 2:
            return None
        return Type.get(self.kind, self.lane_bits, self.lanes // 2, self.dynamic)

    def double_vector(self) -> Optional["Type"]:
        if self.lanes * 2 > MAX_LANES:
            return None
        return Type.get(self.kind, self.lane_bits, self.lanes * 2, self.dynamic)

    def split_lanes(self) -> Optional["Type"]:
        """Half-width lanes, twice as many: same total width."""
        half = self.lane_bits // 2
        if half not in (INT_BITS if self.is_int else FLOAT_BITS):
            return None
        return Type.get(self.kind, half, self.lanes * 2, self.dynamic)

    def merge_lanes(self) -> Optional["Type"]:
        """Double-width lanes, half as many: same total width."""
        double = self.lane_bits * 2
        if self.lanes < 2 or double not in (INT_BITS if self.is_int else FLOAT_BITS):
            return None
        return Type.get(self.kind, double, self.lanes // 2, self.dynamic)

    def dynamic_to_vector(self) -> Optional["Type"]:
        if not self.dynamic:
            return None
        return Type.get(self.kind, self.lane_bits, self.lanes, False)

    def vector_to_dynamic(self) -> Optional["Type"]:
        if self.dynamic or self.lanes < 2:
            return None
        return Type.get(self.kind, self.lane_bits, self.lanes, True)


_AS_INT: dict[Type, Type] = {}  # type -> Type.as_int


def all_pass_as(types, declared) -> bool:
    """Whether values of `types` pass where `declared` are, one for one (`Type.passes_as`)."""
    return len(types) == len(declared) and all(t.passes_as(d) for t, d in zip(types, declared))


_TYPE_RE = re.compile(r"([if])(8|16|32|64|128)(?:x(\d+))?(xN)?\Z")
REF_TYPES = {"r32": ("r", 32), "r64": ("r", 64)}


def parse_type(text: str) -> Optional[Type]:
    """The type named by `text`, or None when it names no valid CLIF type."""
    if text in REF_TYPES:
        return Type.get(*REF_TYPES[text])
    m = _TYPE_RE.match(text)
    if not m:
        return None
    kind, bits, lanes, dyn = m.group(1), int(m.group(2)), m.group(3), m.group(4)
    if kind == "f" and bits == 8:
        return None
    if lanes is not None and len(lanes) > 4:  # more lanes than MAX_LANES (and no huge int())
        return None
    n = int(lanes) if lanes else 1
    if n < 1 or n > MAX_LANES or n & (n - 1):
        return None
    if lanes is not None and n == 1:
        return None
    if dyn and n < 2:
        return None
    if n * bits > 2048:
        return None
    return Type.get(kind, bits, n, bool(dyn))


I8 = Type.get("i", 8)
I16 = Type.get("i", 16)
I32 = Type.get("i", 32)
I64 = Type.get("i", 64)
I128 = Type.get("i", 128)
F16 = Type.get("f", 16)
F32 = Type.get("f", 32)
F64 = Type.get("f", 64)
F128 = Type.get("f", 128)
R64 = Type.get("r", 64)
