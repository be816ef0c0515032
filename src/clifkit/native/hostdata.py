"""Host memory that compiled code reads by absolute address: constants and the function table.

The binding has no constant pool, data objects or relocations to the file's
own functions (see docs/native.md), so compiled code finds vector and f128
constants, and the addresses of the functions it calls, in memory this module
allocates with ctypes and keeps alive as long as the compiled module. Code
refers to it through ``iconst`` addresses.
"""

from __future__ import annotations

import ctypes
from typing import NamedTuple

CHUNK_BYTES = 4096
ALIGN = 16


class HostMemory:
    """Append-only, 16-byte aligned blocks of host memory; identical constants are shared."""

    def __init__(self) -> None:
        self._chunks: list = []  # ctypes buffers: owning them keeps the memory alive
        self._base = 0
        self._used = CHUNK_BYTES
        self._constants: dict[bytes, int] = {}

    def allocate(self, size: int) -> int:
        """The address of `size` fresh zeroed bytes, 16-byte aligned."""
        size = max(ALIGN, (size + ALIGN - 1) // ALIGN * ALIGN)
        if self._used + size > CHUNK_BYTES or size > CHUNK_BYTES:
            room = max(size, CHUNK_BYTES)
            buf = ctypes.create_string_buffer(room + ALIGN)
            self._chunks.append(buf)
            start = ctypes.addressof(buf)
            self._base = (start + ALIGN - 1) // ALIGN * ALIGN
            self._used = 0
            if size >= CHUNK_BYTES:
                self._used = CHUNK_BYTES  # a chunk of its own: the next allocation starts a new one
                return self._base
        addr = self._base + self._used
        self._used += size
        return addr

    def constant(self, data: bytes) -> int:
        """The address of a read-only copy of `data` (16-byte aligned)."""
        found = self._constants.get(data)
        if found is None:
            found = self.allocate(len(data))
            ctypes.memmove(found, data, len(data))
            self._constants[data] = found
        return found


class FunctionTable:
    """One 8-byte slot per function of the file, filled with its address once compiled."""

    def __init__(self, memory: HostMemory, names: list[str]) -> None:
        self.index = {name: i for i, name in enumerate(names)}
        self.base = memory.allocate(8 * max(1, len(names)))

    def slot(self, name: str) -> int:
        return self.base + 8 * self.index[name]

    def fill(self, name: str, address: int) -> None:
        ctypes.c_uint64.from_address(self.slot(name)).value = address

    def read(self, name: str) -> int:
        return ctypes.c_uint64.from_address(self.slot(name)).value


class Address(NamedTuple):
    """An address in the worker's memory, named rather than known: `symbol` plus `offset`.

    The host lowers code for an emulated worker (`replay.py`) without the worker's addresses:
    function-table slots (``("table",)``), constants (``("const", data)``), host symbols
    (``("symbol", name)``) and libcalls (``("libcall", name)``) are resolved when the worker
    replays the lowering. Arithmetic the lowering does on addresses is an offset."""

    symbol: tuple
    offset: int = 0

    def __add__(self, other: int) -> "Address":  # type: ignore[override]
        return Address(self.symbol, self.offset + other)


class SymbolicMemory:
    """`HostMemory` for a lowering done away from the memory's process: constants are named by
    their bytes, the function table is one symbol."""

    def constant(self, data: bytes) -> Address:
        return Address(("const", bytes(data)))

    def allocate(self, size: int) -> Address:
        return Address(("table",))
