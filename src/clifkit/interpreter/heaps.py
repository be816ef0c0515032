"""Heaps and vmctx in the interpreter's address space, and the heap-growth host function.

`materialize` turns the engine-neutral description of a run line's
environment (`clifkit.environment.layout.Environment`) into memory the
interpreter maps before the call:

    ENV_BASE                 vmctx struct (as large as its furthest slot)
    then, per heap, page-aligned, with an unmapped gap between them:
    base .. base+size        accessible bytes, zeroed
    base+size .. +reserve    reserved, unmapped: accesses trap heap_oob
    .. +guard                the directive's guard bytes, unmapped as well

Nothing else is ever placed inside a static heap's reservation, so a static
heap grows in place. A dynamic heap moves to a fresh address whenever it
grows, and its old range is unmapped, so code that kept a stale base traps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..environment.growth import planned_growth
from ..environment.layout import Environment, slot_writes
from ..environment.guarantee import PlacedRegion
from .memory import ENV_BASE, ENV_GAP, PAGE_SIZE, Memory, Region, align_up


@dataclass
class HeapState:
    """One heap during one call."""

    style: str
    base: int
    size: int
    max_size: int
    ptr_offset: int
    bound_offset: Optional[int]
    element_size: int = 1  # tables: the bound slot counts elements
    region: Optional[Region] = None
    reach: int = 0  # how far its declarations address past the base (a moved dynamic heap keeps it)
    bound_bytes: int = 0  # width of its bound slot's value (`HeapRequest.bound_bytes`)


@dataclass
class RunState:
    """What `heap_grow` needs during a call: the heaps and where to put a moved one."""

    vmctx: int
    heaps: list[HeapState]
    next_free: int
    little: bool = True


@dataclass
class HeapEnvironment:
    """An `Environment` ready to apply to a fresh interpreter memory before each call."""

    vmctx: int
    vmctx_size: int
    heaps: list[HeapState]
    next_free: int
    pointer_bytes: int = 8
    symbols: dict = field(default_factory=dict)
    byteorder: str = "little"  # of the vmctx slots: the interpreter's

    def placed_regions(self, memory: Memory) -> list[PlacedRegion]:
        """The regions of the call that ran on `memory`, as the native engine would have placed
        them (for `clifkit.environment.guarantee`): a static heap keeps its first placement."""
        state = memory.env_state
        if not isinstance(state, RunState):
            return []
        vmctx_size = max(self.vmctx_size, 1)
        out = [PlacedRegion("vmctx", self.vmctx, vmctx_size, vmctx_size)]
        for n, (first, live) in enumerate(zip(self.heaps, state.heaps)):
            name = f"table{n}" if live.style == "table" else f"heap{n}"
            placed = first.size if live.style == "static" else live.size
            out.append(PlacedRegion(name, live.base, live.size, placed))
        return out

    def apply(self, memory: Memory) -> None:
        memory.map(self.vmctx, max(self.vmctx_size, 1), "vmctx")
        state = RunState(self.vmctx, [], self.next_free, self.byteorder == "little")
        for n, heap in enumerate(self.heaps):
            live = HeapState(heap.style, heap.base, heap.size, heap.max_size, heap.ptr_offset,
                             heap.bound_offset, heap.element_size, reach=heap.reach,
                             bound_bytes=heap.bound_bytes)
            if heap.size:
                live.region = memory.map(heap.base, heap.size, f"heap{n}")
            state.heaps.append(live)
            _write_slots(memory, state, live)
        memory.env_state = state


def _write_slots(memory: Memory, state: RunState, heap: HeapState) -> None:
    for offset, data in slot_writes(heap, 8, "little" if state.little else "big"):
        memory.write(state.vmctx + offset, data)


def materialize(env: Environment, byteorder: str = "little") -> HeapEnvironment:
    """Lay out vmctx and the heaps of `env`, each region owning the address space its
    `reservation` says (worked out from the declarations, `environment.reservations`); the vmctx
    slots are written in `byteorder`, the interpreter's."""
    vmctx = ENV_BASE
    cursor = align_up(vmctx + max(env.vmctx_reservation, 1), PAGE_SIZE) + ENV_GAP
    heaps = []
    for request in env.heaps:
        span = request.reservation() + request.guard
        heaps.append(HeapState(request.style, cursor, request.size, request.max_size,
                               request.ptr_offset, request.bound_offset, request.element_size, reach=request.reach,
                               bound_bytes=request.bound_bytes))
        cursor = align_up(cursor + max(span, 1), PAGE_SIZE) + ENV_GAP
    return HeapEnvironment(vmctx, env.vmctx_size, heaps, cursor, env.pointer_bytes, byteorder=byteorder)


def heap_grow(machine, vmctx: int, index: int, delta: int) -> int:
    """``%heap_grow(i64 vmctx, i32 heap, i64 delta) -> i64``: grow heap `heap` by `delta` bytes.

    Returns the old size in bytes, or -1 (all ones) when the heap cannot grow
    that far (beyond its ``max=``), the index names no heap (tables do not
    grow), or delta is negative.
    """
    state = machine.memory.env_state
    failed = (1 << 64) - 1
    plan = planned_growth(state.heaps, index, delta) if isinstance(state, RunState) and vmctx == state.vmctx else None
    if plan is None:
        return failed
    heap, old, new = plan
    if new == old:
        return old
    memory: Memory = machine.memory
    if heap.style == "static":
        if heap.region is None:
            heap.region = memory.map(heap.base, new, f"heap{index}")
        else:
            memory.resize(heap.region, new)
    else:
        contents = memory.read(heap.base, old) if old else b""
        base = state.next_free
        state.next_free = align_up(base + max(new, heap.reach), PAGE_SIZE) + ENV_GAP
        if heap.region is not None:
            memory.unmap(heap.region)
        heap.region = memory.map(base, new, f"heap{index}")
        if contents:
            memory.write(base, contents)
        heap.base = base
    heap.size = new
    _write_slots(memory, state, heap)
    return old

