"""``%heap_grow(vmctx, heap, delta)``: which heap grows and to what size, for every engine.

The rule (`layout.grown_size`) and the choice of the heap are the same on every engine; only
what growing does to memory differs (the interpreter's sparse address space, the native
engine's guarded mappings), so each engine asks here first and then moves or extends its own."""

from __future__ import annotations

from typing import Optional, Sequence

from .layout import grown_size


def planned_growth(heaps: Sequence, index: int, delta: int) -> Optional[tuple[object, int, int]]:
    """(the heap, its old size, its new size) for growing heap `index` of `heaps` (any objects
    with `style`, `size` and `max_size`) by `delta` (an i64 bit pattern); None when
    ``%heap_grow`` refuses (no such heap, a table, a negative delta, past ``max=``)."""
    if index >= len(heaps):
        return None
    heap = heaps[index]
    new = grown_size(heap.style, heap.size, heap.max_size, delta)
    return None if new is None else (heap, heap.size, new)
