"""What the native engine guarantees about its environment's memory, for engines to compare by.

The native engine (`clifkit.native.memory`) protects memory in pages. It
places every region (vmctx, a heap, a table) so that it *ends* exactly on a
page boundary: the first byte past it faults. Below its base, the rest of its
first page (the *slack*, ``(-size) % page`` bytes) is readable and writable;
a guard page below that faults. A static heap grows in place, so after
growing by a delta that is not a whole number of pages the rest of its last
page is open too. The interpreter maps regions byte-exactly, so an access in
that open space traps there (``heap_oob``) but not natively: such an access
lies outside the native engine's memory guarantee (rule ``native-page-slack``)
and comparisons report it as such (docs/heaps.md).
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from typing import Iterable, Optional

PAGE_SIZE = mmap.PAGESIZE  # the page size of the machine running native code (4 KiB on every ISA here)
RULE = "native-page-slack"


def page_slack(size: int, page: int = PAGE_SIZE) -> int:
    """Bytes open below the base of a region placed with `size` bytes so that it ends a page."""
    return (-size) % page


def grown_in_place_extent(size: int, max_size: int, page: int = PAGE_SIZE) -> int:
    """How far from its base a static heap placed with `size` bytes may be readable natively once
    grown towards `max_size` in place: to the end of the page `max_size` ends in (`size` itself
    when it cannot grow)."""
    if max_size <= size:
        return size
    slack = page_slack(size, page)
    return -(-(slack + max_size) // page) * page - slack


@dataclass(frozen=True)
class PlacedRegion:
    """A region as the native engine lays it out: `placed_size` is its size when it was placed
    (a static heap keeps its first placement through growth), `size` its size now."""

    name: str
    base: int
    size: int
    placed_size: int

    def natively_open(self, offset: int, length: int, page: int = PAGE_SIZE) -> bool:
        """Whether `length` bytes at `offset` from the base lie in pages the native engine leaves
        accessible (the region itself, its slack, the rest of a grown static heap's last page)."""
        slack = page_slack(self.placed_size, page)
        end = -slack + (slack + self.size + page - 1) // page * page
        return -slack <= offset and offset + length <= end


def outside_native_guarantee(regions: Iterable[PlacedRegion], address: int, length: int) -> Optional[str]:
    """``heap0-0x8``: where an access that is not inside any region lands, when the native engine
    lets it through (None when the native engine faults there as well)."""
    for region in regions:
        offset = address - region.base
        if 0 <= offset and offset + length <= region.size:
            return None  # inside a region: no trap on either engine
        if region.natively_open(offset, length):
            return f"{region.name}{'+' if offset >= 0 else '-'}0x{abs(offset):x}"
    return None


def explain(where: str) -> str:
    return (f"the access at {where} is outside the native engine's memory guarantee (rule {RULE}): "
            "native memory is open there, within a page of the region (docs/heaps.md)")
