"""What a CLIF ``target`` line says about memory: the ISA's byte order.

The interpreter runs a file in the byte order of the target it stands for
(docs/heaps.md, "Byte order"): accesses without a ``big``/``little`` flag,
stack slots and the vmctx slots use it.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Iterable, Optional

# ISAs (the first word of a target line, or of a triple) that are big-endian.
BIG_ENDIAN_ARCHES = ("s390x", "pulley32be", "pulley64be", "powerpc64", "mips64")


def target_byteorder(target: Optional[str]) -> str:
    """"big" or "little" for a target line's words ("s390x has_mie2") or a triple
    ("s390x-unknown-linux-gnu"); the host's own order for None (code run on the host)."""
    if not target:
        return sys.byteorder
    arch = target.split()[0].split("-")[0]
    return "big" if arch in BIG_ENDIAN_ARCHES else "little"


def file_byteorder(targets: Iterable[str]) -> str:
    """The byte order of a file's targets when they all agree; little-endian otherwise (and when
    the file names none), the order of the corpus's targets."""
    orders = {target_byteorder(t) for t in targets}
    return orders.pop() if len(orders) == 1 else "little"
