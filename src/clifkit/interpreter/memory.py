"""The interpreter's address space: one flat, sparse, byte-addressed memory.

Regions (the stack, the regions an `Environment` maps: a vmctx struct, heaps,
data symbols) are mapped at non-overlapping addresses. Every other address is
unmapped: an access that is not wholly inside one region traps (``heap_oob``
unless the access names another trap code). A pointer is an ordinary int.

Storage is sparse: a region owns no bytes until they are touched, then
4 KiB pages are allocated on demand, so mapping a 4 GiB heap costs nothing.
Pages that lie wholly inside one region go into `Memory.pages`, the dict the
generated code reads directly (its fast path checks only that the access does
not cross the page end); pages only partly covered by a region are kept apart
in `Memory.edge_pages` and reached through the checked slow path
(`Memory.load` / `Memory.store`), which also handles accesses crossing a page
boundary, misalignment and traps.

Fixed layout of a 64-bit address space (everything the engine itself places
stays below 4 GiB, so i32 pointers work too):

    0 .. 0x10000                 never mapped: null pointers trap
    CODE_BASE ..                 function addresses (func_addr): opaque, never mapped
    STACK_BASE .. STACK_TOP      the stack, growing down, one frame per call
    ENV_BASE ..                  regions mapped by an Environment, with unmapped gaps
"""

from __future__ import annotations

import struct
from bisect import bisect_right

from .registry import Trap

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

PAGE_BITS = 12
PAGE_SIZE = 1 << PAGE_BITS
PAGE_MASK = PAGE_SIZE - 1
ADDR_MASK = (1 << 64) - 1

CODE_BASE = 0x0001_0000  # user function i is at CODE_BASE + 16 * i
LIBCALL_BASE = 0x0008_0000  # libcall j is at LIBCALL_BASE + 16 * j
RETURN_ADDRESS = 0x000F_FFF0  # what get_return_address yields (opaque, unmapped)
STACK_BASE = 0x0100_0000
STACK_TOP = 0x8000_0000
ENV_BASE = 0x1_0000_0000
ENV_GAP = 16 * PAGE_SIZE  # unmapped space left after every environment region

_ZERO_PAGE = bytes(PAGE_SIZE)


class Region:
    """A mapped address range [base, end)."""

    __slots__ = ("base", "end", "name")

    def __init__(self, base: int, size: int, name: str):
        self.base = base
        self.end = base + size
        self.name = name

    @property
    def size(self) -> int:
        return self.end - self.base

    def __repr__(self) -> str:
        return f"<Region {self.name} {self.base:#x}..{self.end:#x}>"


class Memory:
    """A sparse flat address space. See the module docstring for the layout."""

    __slots__ = ("pages", "edge_pages", "regions", "_bases", "env_state")

    def __init__(self) -> None:
        self.pages: dict[int, bytearray] = {}
        self.edge_pages: dict[int, bytearray] = {}
        self.regions: list[Region] = []
        self._bases: list[int] = []
        self.env_state: object = None  # what an environment keeps per call (e.g. heap sizes for growth)

    # -- mapping -----------------------------------------------------------
    def map(self, base: int, size: int, name: str = "") -> Region:
        """Map [base, base + size). Raises ValueError on overlap or outside the 64-bit space."""
        if size <= 0 or base < 0 or base + size > ADDR_MASK + 1:
            raise ValueError(f"cannot map {size:#x} bytes at {base:#x}")
        i = bisect_right(self._bases, base)
        if i > 0 and self.regions[i - 1].end > base:
            raise ValueError(f"region {name!r} at {base:#x} overlaps {self.regions[i - 1]!r}")
        if i < len(self.regions) and self.regions[i].base < base + size:
            raise ValueError(f"region {name!r} at {base:#x} overlaps {self.regions[i]!r}")
        region = Region(base, size, name)
        self.regions.insert(i, region)
        self._bases.insert(i, base)
        return region

    def resize(self, region: Region, size: int) -> None:
        """Grow or shrink `region` in place to `size` bytes (a heap growing within its reservation)."""
        i = self.regions.index(region)
        if i + 1 < len(self.regions) and region.base + size > self.regions[i + 1].base:
            raise ValueError(f"cannot grow {region!r}: it would overlap {self.regions[i + 1]!r}")
        old_end = region.end
        region.end = region.base + size
        self._refile_pages(min(old_end, region.end), max(old_end, region.end))

    def unmap(self, region: Region) -> None:
        """Remove `region`; its bytes become unmapped (accesses trap) and its pages are dropped."""
        i = self.regions.index(region)
        del self.regions[i]
        del self._bases[i]
        self._refile_pages(region.base, region.end, drop_unmapped=True)

    def _refile_pages(self, start: int, end: int, drop_unmapped: bool = False) -> None:
        """Keep the fast-path invariant for the pages over [start, end): a page is in `pages`
        only while it lies wholly inside one region."""
        first, last = start >> PAGE_BITS, (end - 1) >> PAGE_BITS
        for number in range(first, last + 1):
            page = self.pages.pop(number, None) or self.edge_pages.pop(number, None)
            if page is None:
                continue
            begin = number << PAGE_BITS
            if self.region_of(begin, PAGE_SIZE) is not None:
                self.pages[number] = page
            elif not drop_unmapped or self._touches_region(begin):
                self.edge_pages[number] = page

    def _touches_region(self, begin: int) -> bool:
        i = bisect_right(self._bases, begin + PAGE_SIZE - 1) - 1
        return i >= 0 and self.regions[i].end > begin

    def region_of(self, addr: int, size: int = 1) -> Optional[Region]:
        """The region holding all of [addr, addr + size), or None."""
        i = bisect_right(self._bases, addr) - 1
        if i < 0:
            return None
        region = self.regions[i]
        if addr + size <= region.end:
            return region
        return None

    def is_mapped(self, addr: int, size: int = 1) -> bool:
        return self.region_of(addr & ADDR_MASK, size) is not None

    def _page(self, number: int) -> bytearray:
        """The page `number`, allocated (zeroed) on first touch. Only call it for mapped bytes."""
        page = self.pages.get(number)
        if page is None:
            page = self.edge_pages.get(number)
            if page is None:
                page = bytearray(PAGE_SIZE)
                start = number << PAGE_BITS
                if self.region_of(start, PAGE_SIZE) is not None:
                    self.pages[number] = page
                else:
                    self.edge_pages[number] = page
        return page

    # -- checked byte access -------------------------------------------------
    def _check(self, addr: int, size: int, code: str, align: int) -> int:
        addr &= ADDR_MASK
        if self.region_of(addr, size) is None:
            raise Trap(code, f"{size}-byte access at {addr:#x} is outside every mapped region", addr, size)
        if align and addr % align:
            raise Trap("heap_misaligned", f"{size}-byte access at {addr:#x} is not {align}-aligned")
        return addr

    def read(self, addr: int, size: int, code: str = "heap_oob", align: int = 0) -> bytes:
        """The `size` bytes at `addr`; traps with `code` unless all are mapped."""
        addr = self._check(addr, size, code, align)
        offset = addr & PAGE_MASK
        if offset + size <= PAGE_SIZE:
            page = self.pages.get(addr >> PAGE_BITS) or self._page(addr >> PAGE_BITS)
            return bytes(page[offset : offset + size])
        out = bytearray()
        while size:
            offset = addr & PAGE_MASK
            n = min(size, PAGE_SIZE - offset)
            out += self._page(addr >> PAGE_BITS)[offset : offset + n]
            addr += n
            size -= n
        return bytes(out)

    def write(self, addr: int, data, code: str = "heap_oob", align: int = 0) -> None:
        """Store `data` at `addr`; traps with `code` unless every byte is mapped."""
        size = len(data)
        if size == 0:
            return
        addr = self._check(addr, size, code, align)
        done = 0
        while done < size:
            offset = addr & PAGE_MASK
            n = min(size - done, PAGE_SIZE - offset)
            self._page(addr >> PAGE_BITS)[offset : offset + n] = data[done : done + n]
            addr += n
            done += n

    def fill(self, addr: int, byte: int, size: int, code: str = "heap_oob") -> None:
        """Set `size` bytes at `addr` to `byte` (memset)."""
        if size == 0:
            return
        addr = self._check(addr, size, code, 0)
        byte &= 0xFF
        while size:
            offset = addr & PAGE_MASK
            n = min(size, PAGE_SIZE - offset)
            page_no = addr >> PAGE_BITS
            if byte == 0 and page_no not in self.pages and page_no not in self.edge_pages:
                pass  # untouched pages read as zero already
            else:
                self._page(page_no)[offset : offset + n] = bytes([byte]) * n
            addr += n
            size -= n

    # -- the slow paths of generated loads and stores -------------------------
    def load(self, addr: int, size: int, big: bool, code: str, align: int) -> int:
        """An unsigned integer read from `size` bytes at `addr` (the checked path)."""
        return int.from_bytes(self.read(addr, size, code, align), "big" if big else "little")

    def store(self, addr: int, size: int, value: int, big: bool, code: str, align: int) -> None:
        """Write the low `size` bytes of `value` at `addr` (the checked path)."""
        value &= (1 << (8 * size)) - 1
        self.write(addr, value.to_bytes(size, "big" if big else "little"), code, align)

    # -- statistics ----------------------------------------------------------------
    @property
    def resident_bytes(self) -> int:
        """Bytes actually allocated (touched pages)."""
        return PAGE_SIZE * (len(self.pages) + len(self.edge_pages))


def align_up(value: int, align: int) -> int:
    return (value + align - 1) & -align


# -- run-time helpers bound into generated code ------------------------------------
# (`memory_ops`' templates call them; they live here so that an interpreter binds them without
# importing the lowerings, which a function without memory instructions does not need)

RUNTIME_MEMORY: dict[str, object] = {}
for _n, _c in ((1, "B"), (2, "H"), (4, "I"), (8, "Q")):
    for _e, _prefix in (("l", "<"), ("b", ">")):
        _s = struct.Struct(_prefix + _c)
        RUNTIME_MEMORY[f"_u{_n}{_e}"] = _s.unpack_from
        RUNTIME_MEMORY[f"_s{_n}{_e}"] = _s.pack_into


def _u16l(page, offset):
    return (int.from_bytes(page[offset : offset + 16], "little"),)


def _u16b(page, offset):
    return (int.from_bytes(page[offset : offset + 16], "big"),)


def _s16l(page, offset, value):
    page[offset : offset + 16] = value.to_bytes(16, "little")


def _s16b(page, offset, value):
    page[offset : offset + 16] = value.to_bytes(16, "big")


def _ld(machine, addr, size, big, code, align):
    return machine.memory.load(addr, size, big, code, align)


def _st(machine, addr, size, value, big, code, align):
    machine.memory.store(addr, size, value, big, code, align)


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


RMW_OPS = {
    "add": lambda old, x, bits: old + x,
    "sub": lambda old, x, bits: old - x,
    "and": lambda old, x, bits: old & x,
    "nand": lambda old, x, bits: ~(old & x),
    "or": lambda old, x, bits: old | x,
    "xor": lambda old, x, bits: old ^ x,
    "xchg": lambda old, x, bits: x,
    "umin": lambda old, x, bits: min(old, x),
    "umax": lambda old, x, bits: max(old, x),
    "smin": lambda old, x, bits: old if _signed(old, bits) <= _signed(x, bits) else x,
    "smax": lambda old, x, bits: old if _signed(old, bits) >= _signed(x, bits) else x,
}


def _rmw(machine, addr, x, size, big, code, align, op):
    """atomic_rmw: load, combine, store; returns the old value."""
    memory = machine.memory
    old = memory.load(addr, size, big, code, align)
    memory.store(addr, size, RMW_OPS[op](old, x, 8 * size), big, code, align)
    return old


def _cas(machine, addr, expected, x, size, big, code, align):
    """atomic_cas: store `x` if the memory holds `expected`; returns the old value."""
    memory = machine.memory
    old = memory.load(addr, size, big, code, align)
    if old == expected:
        memory.store(addr, size, x, big, code, align)
    return old


def _vsplit(value: int, bits: int, lanes: int, big: bool) -> tuple:
    m = (1 << bits) - 1
    return tuple((value >> (bits * (lanes - 1 - i if big else i))) & m for i in range(lanes))


def _vjoin(lanes_: tuple, bits: int, big: bool) -> int:
    value = 0
    n = len(lanes_)
    for i, lane in enumerate(lanes_):
        value |= lane << (bits * (n - 1 - i if big else i))
    return value


def _bound_load(size: int, big: bool, align: int):
    def load(machine, addr):
        return machine.memory.load(addr, size, big, "heap_oob", align)

    return load


def _bound_store(size: int, big: bool, align: int):
    def store(machine, addr, value):
        machine.memory.store(addr, size, value, big, "heap_oob", align)

    return store


def checked_name(kind: str, size: int, big: bool, code: str, align: int) -> "Optional[str]":
    """The name of the checked access `kind` ("_ld" or "_st") with its constants bound, taking
    (machine, address) or (machine, address, value), for the usual ones (a `heap_oob` trap);
    None for others. Compact code calls it: ``_ld8l(_m, v0)`` compiles in about half the time
    of ``_ld(_m, v0, 8, False, 'heap_oob', 0)``."""
    if code != "heap_oob" or size not in _BOUND_SIZES or align not in (0, size):
        return None
    return f"{kind}{size}{'b' if big else 'l'}{'a' if align else ''}"


_BOUND_SIZES = (1, 2, 4, 8, 16)
for _n in _BOUND_SIZES:
    for _big in (False, True):
        for _align in (0, _n):
            RUNTIME_MEMORY[checked_name("_ld", _n, _big, "heap_oob", _align)] = _bound_load(_n, _big, _align)
            RUNTIME_MEMORY[checked_name("_st", _n, _big, "heap_oob", _align)] = _bound_store(_n, _big, _align)

RUNTIME_MEMORY.update(
    _u16l=_u16l, _u16b=_u16b, _s16l=_s16l, _s16b=_s16b, _ld=_ld, _st=_st, _rmw=_rmw, _cas=_cas,
    _vsplit=_vsplit, _vjoin=_vjoin,
)
