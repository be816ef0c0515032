"""Run-time state of one interpreter call: memory, stack pointer, fuel, pinned register.

A `Machine` is created for every `Interpreter.call` (a fresh stack and zeroed
memory), optionally prepared by an `Environment` that maps regions (a vmctx
struct, heaps, data) and names symbols before the call. Generated code reaches
the machine through its first parameter ``_m``.

This module also holds the engine's exceptions, the frame layout of a function
(where its stack slots live in its frame) and the small run-time helpers that
generated code calls by name (`RUNTIME`).
"""

from __future__ import annotations

import time

from ..ir.function import FRAME_LAYOUT_CACHE, Function
from ..limits import explicit_slots
from .memory import (
    ENV_BASE,
    ENV_GAP,
    PAGE_BITS,
    PAGE_SIZE,
    STACK_BASE,
    STACK_TOP,
    Memory,
    align_up,
)
from .registry import Trap

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

UNLIMITED_FUEL = 1 << 62
MAX_CALL_DEPTH = 2000  # calls nested deeper trap stk_ovf, unless `max_call_depth=` says otherwise
# Fuel is handed to generated code in slices of this many instructions; between slices the machine
# checks its deadline (`Interpreter(timeout=...)`), so a runaway loop ends within a slice.
FUEL_SLICE = 1 << 18


class Unsupported(Exception):
    """The function uses something the interpreter cannot run; `reason` says what."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class FuelExhausted(Exception):
    """The instruction budget ran out while running `function`."""

    def __init__(self, function: str, fuel: int):
        self.function = function
        self.fuel = fuel
        super().__init__(f"fuel exhausted in {function} (budget of {fuel} instructions)")


class TimeLimitExceeded(Exception):
    """The call ran past its deadline (`Interpreter(timeout=...)`) while running `function`."""

    def __init__(self, function: str, seconds: float):
        self.function = function
        self.seconds = seconds
        super().__init__(f"{function} ran longer than {seconds:g} s")


class MemoryLimitExceeded(Exception):
    """The call touched more memory than `Interpreter(max_memory=...)` allows."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"the call touched more than 0x{limit:x} bytes of memory")


class _TailCallMarker:
    """The type of `TAIL_CALL`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "TAIL_CALL"


# What a function returns to request a tail call: it first stores the callee in
# `Machine.tail_fn` and the arguments in `Machine.tail_args`; the nearest
# trampoline (``while r is TAIL_CALL``) reads them and makes the call.
TAIL_CALL = _TailCallMarker()


# -- frames -------------------------------------------------------------------


class FrameLayout:
    """Where a function's stack slots live: byte offsets from the frame base (its lowest address).
    (A plain class: nothing compares or prints one, and a dataclass costs the import a compile.)"""

    def __init__(self, size: int, align: int = 16, offsets: Optional[dict[int, int]] = None,
                 dynamic_offsets: Optional[dict[int, int]] = None, dynamic_sizes: Optional[dict[int, int]] = None):
        self.size = size  # bytes, a multiple of 16 (0: the function needs no frame)
        self.align = align  # the frame base's alignment: the largest slot alignment, at least 16
        self.offsets = offsets if offsets is not None else {}  # ss number -> offset
        self.dynamic_offsets = dynamic_offsets if dynamic_offsets is not None else {}  # dss number -> offset
        self.dynamic_sizes = dynamic_sizes if dynamic_sizes is not None else {}


def dynamic_scale(func: Function, gv: int) -> int:
    """The value of a ``dyn_scale_target_const`` global value: how many base vectors fit in 128 bits."""
    data = func.global_values.get(gv)
    if data is None or data.kind != "dyn_scale_target_const":
        raise Unsupported(f"dynamic type scaled by gv{gv}, which is not dyn_scale_target_const")
    vt = data.vector_type or data.type
    nbytes = vt.bytes if vt is not None else 16
    return max(1, 16 // max(1, nbytes))


def frame_layout(func: Function) -> FrameLayout:
    """The frame of `func`: each explicit slot at its alignment (the written one, at least natural
    up to 16 bytes), then the dynamic slots; the size rounded up to 16. Kept on the function itself
    (`ir.function.FRAME_LAYOUT_CACHE`, which a pickle or a copy leaves out): a module-level cache
    keyed by function would keep every function of a long fuzzing campaign alive."""
    cached = func.__dict__.get(FRAME_LAYOUT_CACHE)
    if cached is not None:
        return cached
    offsets, top, largest = explicit_slots(func.stack_slots)
    frame_align = max(16, largest)
    dyn_offsets: dict[int, int] = {}
    dyn_sizes: dict[int, int] = {}
    for dss, data in func.dynamic_stack_slots.items():
        dt = func.dynamic_types.get(data.dynamic_type)
        if dt is None:
            raise Unsupported(f"dynamic stack slot dss{dss} names an unknown dynamic type")
        size = dt.base_vector.bytes * dynamic_scale(func, dt.scale)
        top = align_up(top, 16)
        dyn_offsets[dss] = top
        dyn_sizes[dss] = size
        top += size
    size = align_up(top, 16) if (func.stack_slots or func.dynamic_stack_slots) else 0
    if size == 0 and (func.stack_slots or func.dynamic_stack_slots):
        size = 16
    layout = FrameLayout(size, frame_align, offsets, dyn_offsets, dyn_sizes)
    func.__dict__[FRAME_LAYOUT_CACHE] = layout
    return layout


# -- environments -----------------------------------------------------------


class Environment:
    """Memory to prepare before a call: regions with initial contents, and named data symbols.

    Build one, then pass it to `Interpreter.call(name, args, env=...)`; every
    call maps its regions into a fresh address space::

        env = Environment()
        heap = env.map(0x1_0000_0000, name="heap0")        # 4 GiB, costs nothing until touched
        vmctx = env.map(16, name="vmctx", data=heap.to_bytes(8, "little"))
        env.define_symbol("%table", env.map(64, name="table"))
        interp.call("%f", [vmctx, 0], env=env)

    Addresses are allocated upward from ENV_BASE with an unmapped gap after
    each region (so an access running off a region's end traps), unless
    `base` is given.
    """

    def __init__(self) -> None:
        self.regions: list[tuple[int, int, str]] = []  # (base, size, name)
        self.initial: list[tuple[int, bytes]] = []  # (address, bytes) written before each call
        self.symbols: dict[str, int] = {}
        self._next = ENV_BASE

    def map(self, size: int, name: str = "", *, base: Optional[int] = None, align: int = PAGE_SIZE,
            data: bytes = b"") -> int:
        """Map `size` bytes (zeroed, then `data` at the start); returns the base address."""
        if base is None:
            base = align_up(self._next, max(align, 1))
        if size <= 0:
            raise ValueError("a region needs a positive size")
        if len(data) > size:
            raise ValueError(f"initial data ({len(data)} bytes) exceeds region size ({size})")
        for b, s, n in self.regions:
            if base < b + s and b < base + size:
                raise ValueError(f"region {name!r} at {base:#x} overlaps region {n!r}")
        self.regions.append((base, size, name))
        self._next = max(self._next, align_up(base + size, PAGE_SIZE) + ENV_GAP)
        if data:
            self.initial.append((base, bytes(data)))
        return base

    def write(self, addr: int, data: bytes) -> None:
        """Initial contents at `addr` (inside a region mapped here), written before each call."""
        if not any(base <= addr and addr + len(data) <= base + size for base, size, _ in self.regions):
            raise ValueError(f"{len(data)} bytes at {addr:#x} are not inside one region of this environment")
        self.initial.append((addr, bytes(data)))

    def define_symbol(self, name: str, addr: int) -> None:
        """Make ``symbol name`` global values (and symbol_value) resolve to `addr`."""
        self.symbols[name] = addr

    def apply(self, memory: Memory) -> None:
        for base, size, name in self.regions:
            memory.map(base, size, name or "env")
        for addr, data in self.initial:
            memory.write(addr, data)


# -- the machine -----------------------------------------------------------------


class CappedMemory(Memory):
    """A `Memory` that refuses to allocate more than `limit` bytes of pages (`MemoryLimitExceeded`):
    address space stays free, only touched pages count."""

    __slots__ = ("page_limit", "limit")

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.page_limit = max(limit >> PAGE_BITS, 1)

    def _page(self, number: int) -> bytearray:
        page = self.pages.get(number)
        if page is None:
            page = self.edge_pages.get(number)
            if page is None:
                if len(self.pages) + len(self.edge_pages) >= self.page_limit:
                    raise MemoryLimitExceeded(self.limit)
                page = Memory._page(self, number)
        return page


class Machine:
    """State of one call. Generated code uses `pages`, `sp`, `fuel`, `pinned` directly.

    `fuel` is the current slice of the budget; `reserve` is the rest, handed out a slice at a
    time by `_nofuel`, which also checks `deadline` (a `time.monotonic()` value, or None)."""

    __slots__ = ("interp", "memory", "pages", "sp", "fuel", "pinned", "symbols", "tail_fn", "tail_args",
                 "reserve", "deadline", "timeout")

    def __init__(self, interp, env: Optional[Environment] = None, fuel: int = UNLIMITED_FUEL,
                 timeout: Optional[float] = None, max_memory: Optional[int] = None):
        self.interp = interp
        self.memory = memory = Memory() if max_memory is None else CappedMemory(max_memory)
        memory.map(STACK_BASE, STACK_TOP - STACK_BASE, "stack")
        self.symbols: dict[str, int] = {}
        if env is not None:
            env.apply(memory)
            self.symbols = dict(getattr(env, "symbols", {}))
        self.pages = memory.pages
        self.sp = STACK_TOP
        self.fuel = min(fuel, FUEL_SLICE)
        self.reserve = fuel - self.fuel
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.pinned = 0
        self.tail_fn = None
        self.tail_args: tuple = ()

    def push_frame(self, size: int, align: int = 16):
        """Allocate a zeroed frame of `size` bytes below the stack pointer, its base `align`-aligned.

        Returns (sp, page): a frame no larger than a page is placed so that it
        does not straddle a page boundary, and `page` is the page holding it
        (generated code then reaches its slots without address checks); for
        a larger frame `page` is None."""
        sp = (self.sp - size) & -align
        if size <= PAGE_SIZE and align <= PAGE_SIZE:
            if (sp >> PAGE_BITS) != ((sp + size - 1) >> PAGE_BITS):
                sp = ((((sp + size - 1) >> PAGE_BITS) << PAGE_BITS) - size) & -align
            if sp < STACK_BASE:
                raise Trap("stk_ovf", "the stack is exhausted")
            number = sp >> PAGE_BITS
            page = self.pages.get(number)
            if page is None:
                page = self.memory._page(number)
            offset = sp & (PAGE_SIZE - 1)
            page[offset : offset + size] = bytes(size)
            self.sp = sp
            return sp, page
        if sp < STACK_BASE:
            raise Trap("stk_ovf", "the stack is exhausted")
        self.memory.fill(sp, 0, size)
        self.sp = sp
        return sp, None

    def enter_frame(self, charge, size: int, align: int):
        """Short code's entry to a function with a frame of up to a page: the check of a charge
        its caller's last callee may have left (`charge`, its `fuel_charger`, of 0: before the
        push, which may trap), then `push_frame`. Returns (the caller's sp, sp, page, the frame's
        offset in its page)."""
        charge(self, 0)
        old = self.sp
        sp, page = self.push_frame(size, align)
        return old, sp, page, sp & (PAGE_SIZE - 1)

    def symbol(self, name: str) -> int:
        """The address of a data symbol (from the environment) or of a function."""
        addr = self.symbols.get(name)
        if addr is None:
            addr = self.interp.function_address(name)
        if addr is None:
            raise Unsupported(f"symbol {name} is not defined (map it with Environment.define_symbol)")
        return addr


# -- helpers that generated code calls ---------------------------------------------


def _trap(code: str, detail: str = ""):
    raise Trap(code, detail)


def _stk_ovf(depth: int):
    raise Trap("stk_ovf", f"call depth {depth} exceeds the limit")


def _no_fuel(machine: Machine, name: str, left: int = -1) -> int:
    """Generated code's ``if _f < 0: _f = _nofuel(_m, name, _f)``: the fuel slice ran out (`left`
    is what the local counter holds, below 0). Hands out the next slice, after checking the
    deadline; raises FuelExhausted when the whole budget is spent."""
    while left < 0:
        if machine.reserve <= 0:
            raise FuelExhausted(name, machine.interp.fuel if machine.interp.fuel is not None else -1)
        deadline = machine.deadline
        if deadline is not None and time.monotonic() > deadline:
            raise TimeLimitExceeded(name, machine.timeout)
        give = min(machine.reserve, FUEL_SLICE)
        machine.reserve -= give
        left += give
    return left


def _no_fuel_or_deep(machine: Machine, name: str, left: int, depth: int, limit: int) -> int:
    """Generated code's ``if _f < 0 or _d >= LIMIT: _f = _nofuel_or_deep(_m, name, _f, _d, LIMIT)``
    before a call: the fuel check, then the depth check (against the limit the code was compiled
    with, as the test itself), written as one test."""
    if left < 0:
        left = _no_fuel(machine, name, left)
    if depth >= limit:
        _stk_ovf(depth + 1)
    return left


def fuel_charger(name: str, limit: int):
    """Short code's charge (`FunctionCompiler.short_fuel`): ``_fuel3(_m, N)`` takes a block's N
    instructions from ``_m.fuel`` and checks it, as ``_f -= N`` and ``_nofuel``'s test would;
    ``_fuel3(_m, N, _d)`` then checks the depth of the call that follows, as
    `_no_fuel_or_deep` (fuel first). One call compiles in about half the time of the two
    lines, and code that runs a few times pays little for running it. One per function name
    and depth limit (`FunctionCompiler.charger`)."""

    def charge(machine: Machine, count: int, depth: int = -1) -> None:
        left = machine.fuel - count
        if left < 0:
            left = _no_fuel(machine, name, left)
        machine.fuel = left
        if depth >= limit:
            _stk_ovf(depth + 1)

    return charge


def indirect_key(params, returns) -> tuple:
    """What an indirect call compares first: the exact parameter and return types, by name."""
    return tuple(t.name for t in params), tuple(t.name for t in returns)


def big_lanes(byteorder: str, call_conv: str) -> bool:
    """Whether a callee of `call_conv` holds vector lanes in big-endian order in its registers
    (`vector_calls`: Cranelift's s390x keeps them little-endian under ``tail`` alone)."""
    return byteorder == "big" and call_conv != "tail"


def bad_call(machine: Machine, addr: int, entry, key) -> list:
    """call_indirect's slow path, when `addr` has no entry or one whose exact signature is not
    `key`: the entry to call instead (`vector_calls.adapted`: vectors of the same width stand
    for one another), else the trap: `addr` is no function's, or its signature does not match."""
    if entry is None:
        raise Trap("heap_oob", f"call_indirect to {addr:#x}, which is no function's address")
    from .vector_calls import adapted

    found = adapted(machine.interp, addr, entry, key)
    if found is None:
        raise Trap("bad_sig", f"call_indirect with signature {key}, the callee has {entry[1]}")
    return found


def tail_call(machine: Machine, fn, *args):
    """Short code's ``return_call``: leaves the callee and its arguments for the trampoline."""
    machine.tail_fn = fn
    machine.tail_args = args
    return TAIL_CALL


def _indirect_entry(machine: Machine, addr: int, key) -> list:
    """The callee at `addr` (`Interpreter.indirect`: [function, exact signature key, whether it
    is a CLIF function, whether its vector lanes are big-endian]) called through signature `key`."""
    entry = machine.interp.indirect.get(addr)
    if entry is None or entry[1] != key:
        entry = bad_call(machine, addr, entry, key)
    return entry


def tail_call_indirect(machine: Machine, addr: int, key, *args):
    """Short code's ``return_call_indirect``: the callee at `addr`, checked as call_indirect's."""
    machine.tail_fn = _indirect_entry(machine, addr, key)[0]
    machine.tail_args = args
    return TAIL_CALL


def returned(machine: Machine, depth: int, result):
    """Short code's trampoline: the result of a call that may have asked for tail calls."""
    while result is TAIL_CALL:
        result = machine.tail_fn(machine, depth, *machine.tail_args)
    return result


def indirect_caller(limit: int):
    """Short code's ``call_indirect`` (one line rather than six, see `compiler_calls`): the
    callee at the address, its signature checked, then, for a CLIF function, the depth against
    `limit` (`max_call_depth` when the code was compiled), the call and its tail calls."""

    def call(machine: Machine, depth: int, addr: int, key, *args):
        entry = _indirect_entry(machine, addr, key)
        if depth >= limit and entry[2]:
            _stk_ovf(depth + 1)
        # (the trampoline inline, not `returned`: a tail callee then runs two Python frames above
        # the caller, as `Interpreter.call`'s recursion limit allows for each level)
        result = entry[0](machine, depth + 1, *args)
        while result is TAIL_CALL:
            result = machine.tail_fn(machine, depth + 1, *machine.tail_args)
        return result

    return call


RUNTIME = {
    "_Trap": Trap,
    "_TC": TAIL_CALL,
    "_trap": _trap,
    "_stk_ovf": _stk_ovf,
    "_nofuel": _no_fuel,
    "_nofuel_or_deep": _no_fuel_or_deep,
    "_badcall": bad_call,
    "_tail": tail_call,
    "_tailind": tail_call_indirect,
    "_ret": returned,
}
