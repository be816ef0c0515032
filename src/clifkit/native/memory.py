"""Real memory for a run line's environment: guarded heaps, tables and vmctx, and ``%heap_grow``.

`materialize` turns the engine-neutral description of a run line's
environment (`clifkit.environment.layout.Environment`) into real mappings
in the process that runs the compiled code, with the same observable
behaviour as the interpreter's (`clifkit.interpreter.heaps`):

* a **static heap** reserves ``HeapRequest.reservation() + guard`` bytes of
  address space after its base (its ``max``, or the ``bound + offset_guard``
  its declarations promise, `clifkit.environment.reservations`),
  ``PROT_NONE``, of which only the first ``size`` bytes are readable and
  writable. An access the legalizer let through without a bounds check (the
  heap's declaration promised that reservation) lands in those pages and
  faults, exactly as in Wasmtime; growth `mprotect`s more of the reservation,
  in place, up to ``max``;
* a **dynamic heap** and a **table** are mappings of their current size with
  the directive's guard (at least a page) after them. A dynamic heap always
  moves when it grows: a fresh mapping, the contents copied, base and bound
  slots rewritten, and the old range made ``PROT_NONE`` (kept reserved, so a
  stale base faults and is recognised as an out-of-bounds heap access);
* **vmctx** is a small mapping holding the base and bound slots, written in
  the target's byte order and pointer width.

Every region is placed so that its *end* falls exactly on a page boundary
(base = page end - size, whatever the size), so the first byte past ``size``
faults. Page protection cannot make both ends exact: the part of the
region's first page below its base (the *slack*, ``(-size) % PAGE_SIZE``
bytes, `Region.slack`) is readable and writable, and an unmapped guard page
lies below that, so an access further below faults. A base is therefore
only as aligned as its size is (a size that is a multiple of 16 gives a
16-byte aligned base). A static heap grows in place, so after growth by a
delta that is not a multiple of the page size its end is no longer exact.
docs/heaps.md states these guarantees. Memory is fresh and zeroed for every
run line (`NativeEnvironment.release` unmaps it all, or, for a large
reservation, zeroes and protects again what the run line could reach, and keeps
it for the next: `RECYCLE_MIN`; a small mapping whose accessible bytes were one
page is kept with that page zeroed: `WARM_MAX`; an environment the next run line
asks for again is kept whole and zeroed in place: `NativeEnvironment.end`).

`NativeEnvironment.classify(address)` says whether a faulting address lies in
a reserved or guard part of this environment (then the fault is a
``heap_oob`` trap, as the interpreter reports it).

Nothing here assumes the host: page size, byte order and pointer width come
from the system and from the target.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import mmap as _mmap
import os
import sys
from dataclasses import dataclass
from typing import Optional

from ..environment.growth import planned_growth
from ..environment.layout import Environment, HeapRequest, slot_writes
from ..environment.guarantee import page_slack

PAGE_SIZE = _mmap.PAGESIZE

PROT_NONE = 0
PROT_READ = getattr(_mmap, "PROT_READ", 1)
PROT_WRITE = getattr(_mmap, "PROT_WRITE", 2)
PROT_RW = PROT_READ | PROT_WRITE
MAP_PRIVATE = getattr(_mmap, "MAP_PRIVATE", 2)
MAP_ANONYMOUS = getattr(_mmap, "MAP_ANONYMOUS", getattr(_mmap, "MAP_ANON", 0x20))
# Not in Python's mmap module before 3.13; 0x4000 on Linux for every ISA clifkit targets.
MAP_NORESERVE = getattr(_mmap, "MAP_NORESERVE", 0x4000 if sys.platform.startswith("linux") else 0)
MAP_FIXED = getattr(_mmap, "MAP_FIXED", 0x10)
MAP_FAILED = ctypes.c_void_p(-1).value

ALL_ONES_64 = (1 << 64) - 1


class MappingError(OSError):
    """A mapping could not be made or changed (the system refused)."""


_libc = None


def libc():
    global _libc
    if _libc is None:
        try:  # glibc's name: no ctypes.util.find_library, which starts ldconfig (slow, above all emulated)
            lib = ctypes.CDLL("libc.so.6" if sys.platform.startswith("linux") else None, use_errno=True)
        except OSError:
            from ctypes.util import find_library

            lib = ctypes.CDLL(find_library("c") or None, use_errno=True)
        lib.mmap.restype = ctypes.c_void_p
        lib.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        lib.munmap.restype = ctypes.c_int
        lib.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.mprotect.restype = ctypes.c_int
        lib.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        _libc = lib
    return _libc


def align_up(n: int, align: int) -> int:
    return (n + align - 1) // align * align


def align_down(n: int, align: int) -> int:
    return n // align * align


def _fail(what: str) -> MappingError:
    err = ctypes.get_errno()
    return MappingError(err, f"{what}: {os.strerror(err)}")


# Reserving and releasing address space is cheap for a real kernel, but under QEMU user-mode
# emulation (7.x) it costs time in proportion to the range's pages: about 60 ms of CPU to map and
# unmap the 6 GiB of a Wasm-style static heap, for every run line. So a large reservation is kept
# when it is released, clean (the pages it ever made accessible zeroed, every page PROT_NONE again),
# for the next region of the same length; and the worker reserves what a batch's environments will
# need before it forks the child that runs them (`keep_spares`), which inherits them. QEMU keeps
# about 6 MB of its own memory per GiB reserved, hence the bound on what is kept.
RECYCLE_MIN = 16 << 20  # smaller mappings cost less to make anew than to clean (measured under QEMU)
RECYCLE_TOUCHED_MAX = 1 << 20  # a mapping with more bytes ever accessible than this is unmapped, not zeroed
SPARE_BYTES = 16 << 30  # address space kept in all

_spares: dict[int, list[int]] = {}  # mapping length -> addresses of clean, unused mappings

# A small region whose accessible bytes fit one page (vmctx, tables, small heaps: nearly every
# region of a fuzzed program) always has the same protection in its mapping whatever its size: the
# page after the leading guard page readable and writable, every other page PROT_NONE (`_layout`).
# Such a mapping is kept when released, that page zeroed, for the next region of its length:
# making one anew cost an mmap, an mprotect, a munmap and a page fault on its first write (some
# 14 us natively, most of placing a run line's environment), zeroing a page about 0.5 us.
WARM_MAX = 16  # mappings kept per length
_warm: dict[int, list[int]] = {}  # mapping length -> addresses of such mappings, their page zeroed
# The environment of the run line before, while the next may take it (`NativeEnvironment.end`).
_kept: Optional["NativeEnvironment"] = None


class Mapping:
    """An anonymous private mapping, all of it ``PROT_NONE`` at first (and zeroed: a recycled one
    is as fresh as a new one)."""

    __slots__ = ("addr", "length", "touched", "first_page_only")

    def __init__(self, length: int):
        length = max(align_up(length, PAGE_SIZE), PAGE_SIZE)
        spare = _spares.get(length)
        self.addr = spare.pop() if spare else _reserve(length)
        self.length = length
        self.touched: Optional[tuple[int, int]] = None  # the page range ever made accessible
        # Whether every protection change so far made the page after the first readable and
        # writable (and no other page anything): then it can be kept warm (`_warm`).
        self.first_page_only = True

    @classmethod
    def first_page_accessible(cls, length: int) -> "Mapping":
        """A mapping of `length` bytes (less than `RECYCLE_MIN`) whose page after the first is
        readable, writable and zeroed, every other page PROT_NONE: a warm one when one is kept."""
        length = max(align_up(length, PAGE_SIZE), 2 * PAGE_SIZE)
        warm = _warm.get(length)
        if not warm:
            mapping = cls(length)
            mapping.protect(PAGE_SIZE, PAGE_SIZE, PROT_RW)
            return mapping
        mapping = cls.__new__(cls)
        mapping.addr, mapping.length = warm.pop(), length
        mapping.touched, mapping.first_page_only = (PAGE_SIZE, 2 * PAGE_SIZE), True
        return mapping

    @property
    def end(self) -> int:
        return self.addr + self.length

    def protect(self, offset: int, length: int, prot: int) -> None:
        """Change the protection of the pages covering [offset, offset+length)."""
        start = align_down(offset, PAGE_SIZE)
        stop = min(align_up(offset + length, PAGE_SIZE), self.length)
        if stop <= start:
            return
        if libc().mprotect(self.addr + start, stop - start, prot) != 0:
            raise _fail(f"cannot change the protection of 0x{stop - start:x} bytes")
        if prot != PROT_RW or start != PAGE_SIZE or stop != 2 * PAGE_SIZE:
            self.first_page_only = False
        if prot != PROT_NONE:
            touched = self.touched
            self.touched = (start, stop) if touched is None else (min(start, touched[0]), max(stop, touched[1]))

    def close(self) -> None:
        if not self.length:
            return
        length, self.length = self.length, 0
        if length >= RECYCLE_MIN:
            if self._clean():
                _keep_spare(length, self.addr)
                return
        elif self.first_page_only and self.touched is not None:
            warm = _warm.setdefault(length, [])
            if len(warm) < WARM_MAX:
                ctypes.memset(self.addr + PAGE_SIZE, 0, PAGE_SIZE)
                warm.append(self.addr)
                return
        libc().munmap(self.addr, length)

    def _clean(self) -> bool:
        """Zero the pages this mapping ever made accessible and make them ``PROT_NONE`` again, so
        that it is as a fresh one; False when that is not worth it or failed (then unmap it)."""
        if self.touched is None:
            return True
        start, stop = self.touched
        if stop - start > RECYCLE_TOUCHED_MAX:
            return False
        lib = libc()
        if lib.mprotect(self.addr + start, stop - start, PROT_RW) != 0:
            return False
        ctypes.memset(self.addr + start, 0, stop - start)
        return lib.mprotect(self.addr + start, stop - start, PROT_NONE) == 0

    def __contains__(self, address: int) -> bool:
        return self.addr <= address < self.addr + self.length


def _reserve(length: int) -> int:
    addr = libc().mmap(None, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
    if addr is None or addr == MAP_FAILED:
        raise _fail(f"cannot reserve 0x{length:x} bytes of address space")
    return addr


def _spare_bytes() -> int:
    return sum(length * len(addrs) for length, addrs in _spares.items())


def _keep_spare(length: int, addr: int) -> None:
    """Keep the clean mapping at `addr`, giving back the lengths kept longest if need be."""
    while _spare_bytes() + length > SPARE_BYTES and any(k != length and v for k, v in _spares.items()):
        oldest = next(k for k, v in _spares.items() if k != length and v)
        for old in _spares.pop(oldest):
            libc().munmap(old, oldest)
    if _spare_bytes() + length > SPARE_BYTES:
        libc().munmap(addr, length)
    else:
        _spares.setdefault(length, []).append(addr)


def write_bytes(address: int, data: bytes) -> None:
    ctypes.memmove(address, data, len(data))


def read_bytes(address: int, size: int) -> bytes:
    return ctypes.string_at(address, size)


@dataclass
class Region:
    """One environment region in real memory.

    Layout of its mapping: a guard page, then the region's first page holding
    `slack` bytes before `base` (so that ``base + size`` ends a page), the
    accessible bytes, then the reserved and guard bytes, all ``PROT_NONE``.
    """

    name: str
    style: str  # "vmctx", "static", "dynamic", "table"
    mapping: Mapping
    base: int
    size: int  # accessible bytes from base
    max_size: int = 0
    ptr_offset: int = 0
    bound_offset: Optional[int] = None
    element_size: int = 1
    span: int = 0  # bytes after base that belong to the region (accessible, reserved or guard)
    stale: bool = False  # a dynamic heap's old mapping after it moved: all PROT_NONE
    guard: int = 0  # the directive's guard bytes (a moved dynamic heap keeps them)
    reach: int = 0  # how far its declarations address past the base (a moved dynamic heap keeps it)
    bound_bytes: int = 0  # width of its bound slot's value (`HeapRequest.bound_bytes`)

    @property
    def head(self) -> int:
        """Offset of `base` inside the mapping."""
        return self.base - self.mapping.addr

    @property
    def slack(self) -> int:
        """Accessible bytes below `base` (the rest of its first page; the guard page lies below)."""
        return 0 if self.stale else self.head - PAGE_SIZE


@functools.lru_cache(maxsize=1024)  # (a batch's run lines ask for a few shapes, again and again)
def _layout(size: int, span: int) -> tuple[int, int, int]:
    """Where a region of `size` accessible bytes and `span` bytes after its base goes in its
    mapping, which starts with a guard page: the bytes of the next page below the base (`pad`), the
    bytes from the base to the mapping's end (at least a guard page after the accessible ones), and
    the mapping's length (whole pages)."""
    span = max(span, size)
    # The base sits `pad` bytes into the page after the leading guard page, so that base + size
    # ends a page exactly: the first byte past the region faults whatever its size.
    pad = page_slack(size, PAGE_SIZE)
    after = align_up(pad + span, PAGE_SIZE) - pad
    if after - size < PAGE_SIZE:
        after += PAGE_SIZE  # always at least a page of guard after the accessible bytes
    return pad, after, PAGE_SIZE + pad + after


def _place(name: str, style: str, size: int, span: int) -> Region:
    """A mapping with a guard page before it, `span` bytes from the base (at least a guard page
    after the accessible `size` bytes), and the first `size` bytes after the base accessible."""
    pad, after, length = _layout(size, span)
    if 0 < size <= PAGE_SIZE and length < RECYCLE_MIN:  # (then pad + size is one page)
        mapping = Mapping.first_page_accessible(length)
    else:
        mapping = Mapping(length)
        if size:
            mapping.protect(PAGE_SIZE, pad + size, PROT_RW)
    base = mapping.addr + PAGE_SIZE + pad
    return Region(name, style, mapping, base, size, span=after)


def _regions(env: Environment) -> list[tuple[int, int]]:
    """(size, span) of each region `NativeEnvironment` places for `env` before it runs (worked out
    once per environment: `keep_spares` and each run line's placing ask again)."""
    seen = _REGIONS_SEEN.get(id(env))
    if seen is not None and seen[0] is env:
        return seen[1]
    regions = [(max(env.vmctx_size, 1), max(env.vmctx_reservation, 1)),
               *((request.size, request.reservation() + request.guard) for request in env.heaps)]
    if len(_REGIONS_SEEN) >= _SEEN_MAX:
        _REGIONS_SEEN.clear()
    _REGIONS_SEEN[id(env)] = (env, regions)  # (holding `env`, so that its id is no other's meanwhile)
    return regions


# id(env) -> (env, `_regions(env)`); emptied when full. Environments come from `environment_from_wire`,
# which gives the run lines of a program one object.
_REGIONS_SEEN: dict = {}
_SEEN_MAX = 256


def keep_spares(envs) -> None:
    """Reserve now the large mappings the environments `envs` will place, so that their run lines
    take them instead of making each anew (see `RECYCLE_MIN`). Only an economy: what the system
    refuses is left to the run lines that need it, which fail alone."""
    needed: dict[int, int] = {}
    for env in {id(env): env for env in envs}.values():  # (a program's run lines share theirs)
        lengths: dict[int, int] = {}
        for size, span in _regions(env):
            length = _layout(size, span)[2]
            if length >= RECYCLE_MIN:
                lengths[length] = lengths.get(length, 0) + 1
        for length, count in lengths.items():
            needed[length] = max(needed.get(length, 0), count)
    # The environment kept from the run line before holds mappings too: the next run line takes
    # them, or they become spares when it is released (`materialize`).
    held: dict[int, int] = {}
    for region in _kept.regions() if _kept is not None else ():
        held[region.mapping.length] = held.get(region.mapping.length, 0) + 1
    for length, count in needed.items():
        for _ in range(count - len(_spares.get(length, ())) - held.get(length, 0)):
            if _spare_bytes() + length > SPARE_BYTES:
                return
            try:
                addr = _reserve(length)
            except MappingError:
                return  # (under `ulimit -v`, say): the run lines that need it say so themselves
            _keep_spare(length, addr)


class NativeEnvironment:
    """An `Environment` in real memory for one run line."""

    def __init__(self, env: Environment, byteorder: str = sys.byteorder):
        self.env = env
        self.pointer_bytes = env.pointer_bytes
        self.byteorder = byteorder
        self.heaps: list[Region] = []
        self.stale: list[Region] = []
        self.vmctx_region: Optional[Region] = None
        self.grown = False  # a heap grew: its layout is no longer that of `env`
        try:
            (vmctx_size, vmctx_span), *heaps = _regions(env)
            self.vmctx_region = _place("vmctx", "vmctx", vmctx_size, vmctx_span)
            for request, (size, span) in zip(env.heaps, heaps):
                self.heaps.append(self._heap(request, size, span))
            for heap in self.heaps:
                self._write_slots(heap)
        except BaseException:
            self.release()
            raise

    @property
    def vmctx(self) -> int:
        return self.vmctx_region.base

    def _heap(self, request: HeapRequest, size: int, span: int) -> Region:
        region = _place(f"heap{request.index}" if request.style != "table" else f"table{request.index}",
                        request.style, size, span)
        region.max_size = request.max_size
        region.ptr_offset = request.ptr_offset
        region.bound_offset = request.bound_offset
        region.element_size = request.element_size
        region.guard = request.guard
        region.reach = request.reach
        region.bound_bytes = request.bound_bytes
        return region

    def _write_slots(self, heap: Region) -> None:
        for offset, data in slot_writes(heap, self.pointer_bytes, self.byteorder):
            write_bytes(self.vmctx + offset, data)

    def read_slot(self, offset: int) -> int:
        return int.from_bytes(read_bytes(self.vmctx + offset, self.pointer_bytes), self.byteorder)

    # -- growth ------------------------------------------------------------------

    def grow(self, vmctx: int, index: int, delta: int) -> int:
        """``%heap_grow(vmctx, heap, delta)``: the old size in bytes, or all ones when the heap
        cannot grow that far (beyond ``max=``), the index names no heap (tables do not grow), the
        vmctx is not this environment's, or delta is negative. Semantics of
        `clifkit.interpreter.heaps.heap_grow`."""
        index &= 0xFFFF_FFFF
        delta &= ALL_ONES_64
        plan = planned_growth(self.heaps, index, delta) if self.vmctx_region is not None and vmctx == self.vmctx else None
        if plan is None:
            return ALL_ONES_64
        heap, old, new = plan
        if new == old:
            return old
        self.grown = True
        if heap.style == "static":
            # In place: the reservation already holds max bytes after the base.
            heap.mapping.protect(heap.head, new, PROT_RW)
            heap.size = new
        else:
            moved = _place(heap.name, heap.style, new, max(new, heap.reach) + heap.guard)
            if old:
                ctypes.memmove(moved.base, heap.base, old)
            heap.mapping.protect(0, heap.mapping.length, PROT_NONE)
            self.stale.append(Region(heap.name, heap.style, heap.mapping, heap.base, 0, span=heap.span, stale=True))
            heap.mapping, heap.base, heap.size, heap.span = moved.mapping, moved.base, new, moved.span
        self._write_slots(heap)
        return old

    # -- faults ------------------------------------------------------------------

    def regions(self) -> list[Region]:
        out = [self.vmctx_region] if self.vmctx_region is not None else []
        return out + self.heaps + self.stale

    def classify(self, address: int) -> Optional[str]:
        """The trap a fault at `address` means, or None when it is not this environment's: any
        inaccessible byte of an environment mapping (a heap's reserved or guard bytes, a moved
        heap's old range, the guard pages around vmctx and tables) is ``heap_oob``."""
        for region in self.regions():
            if address in region.mapping:
                if region.stale or not region.base <= address < region.base + region.size:
                    return "heap_oob"
                return None
        return None

    def describe(self, address: int) -> str:
        for region in self.regions():
            if address in region.mapping:
                offset = address - region.base
                state = "old range" if region.stale else ("accessible" if 0 <= offset < region.size else "guard")
                return f"{region.name}{'+' if offset >= 0 else '-'}0x{abs(offset):x} ({state})"
        return ""

    def release(self) -> None:
        for region in self.regions():
            region.mapping.close()
        self.heaps, self.stale, self.vmctx_region = [], [], None

    def end(self) -> None:
        """Its run line is over: keep it for the next run line if that asks for an equal
        environment (`materialize`), unless a heap grew; else release it."""
        global _kept
        if self.grown or self.vmctx_region is None:
            self.release()
            return
        if _kept is not None:
            _kept.release()
        _kept = self

    def _renew(self) -> bool:
        """Make this (kept, never grown) environment's memory as `__init__` left it: its accessible
        bytes zero again, vmctx's slots written. Its mappings and their protection stay as they
        are: making them anew costs an mmap, an mprotect and a munmap per region, and a page
        fault per page touched (tens of microseconds each on some kernels). False when that fails."""
        for region in (self.vmctx_region, *self.heaps):
            start = region.mapping.addr + PAGE_SIZE  # (the accessible range: whole pages)
            length = region.base + region.size - start
            if length <= 0:
                continue
            if length <= PAGE_SIZE:  # (touched already, most likely: zeroing it costs no fault)
                ctypes.memset(start, 0, length)
            elif libc().mmap(start, length, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
                             -1, 0) != start:  # fresh zero pages in place (QEMU 7 ignores MADV_DONTNEED)
                return False
        for heap in self.heaps:
            self._write_slots(heap)
        return True


def materialize(env: Environment, byteorder: str = sys.byteorder) -> NativeEnvironment:
    """`env` in fresh, zeroed, guarded memory, each region owning the address space its
    `reservation` says (worked out from the declarations, `environment.reservations`): that of
    the run line before when it asked for an equal environment, zeroed again (the run lines of
    a program usually do)."""
    global _kept
    kept, _kept = _kept, None
    if kept is not None:
        if kept.env == env and kept.byteorder == byteorder and kept._renew():
            return kept
        kept.release()
    return NativeEnvironment(env, byteorder)


# -- environments over the wire ----------------------------------------------------------------

# Every field of a heap request but its source location: a field added to `HeapRequest` reaches the
# worker without a second list to keep in step.
_REQUEST_FIELDS = tuple(f.name for f in dataclasses.fields(HeapRequest) if f.name != "loc")
_ENV_FIELDS = ("pointer_bytes", "vmctx_min", "vmctx_reach")


def environment_to_wire(env: Environment) -> dict:
    """A plain-data form of `env` (for the worker protocol)."""
    data = {k: getattr(env, k) for k in _ENV_FIELDS}
    data["heaps"] = [{k: getattr(h, k) for k in _REQUEST_FIELDS} for h in env.heaps]
    return data


def environment_from_wire(data: dict) -> Environment:
    """The `Environment` of a wire form: one object for equal forms (the run lines of a program
    ask for the same environment, each sent apart), which the next run line then compares with
    the one it keeps (`materialize`) at once, and whose regions are worked out once (`_regions`)."""
    key = (*(data[k] for k in _ENV_FIELDS), *(tuple(h[k] for k in _REQUEST_FIELDS) for h in data["heaps"]))
    env = _FROM_WIRE.get(key)
    if env is None:
        heaps = tuple(HeapRequest(loc=None, **dict(zip(_REQUEST_FIELDS, fields))) for fields in key[len(_ENV_FIELDS):])
        env = Environment(heaps, **dict(zip(_ENV_FIELDS, key)))
        if len(_FROM_WIRE) >= _SEEN_MAX:
            _FROM_WIRE.clear()
        _FROM_WIRE[key] = env
    return env


_FROM_WIRE: dict = {}  # wire form's fields -> its Environment (immutable: shared), emptied when full
