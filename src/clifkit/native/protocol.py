"""The protocol between the harness and the native worker, and between the worker and its children.

Messages are length-prefixed pickles of plain data (dicts, lists, tuples,
ints, strings, bytes, None, bools): a 4-byte big-endian length, then the
pickle. The same framing is used on every pipe, whether the worker runs on
the host (``python -m clifkit.native.worker``) or under emulation, so nothing
in a message depends on the host: values travel as bit patterns (Python ints,
tuples of lane patterns for vectors), and the worker converts them to and
from memory in the *target's* byte order.

Harness → worker, one reply each:

``{"op": "hello"}``
    → ``{"ok": True, "pid", "byteorder", "pointer_bytes", "python", "cranelift": version or None, "machine",
    "triple", "host_symbols": [names]}`` (the last two: what a lowering done by the harness needs, `replay.py`)
``{"op": "load", "path", "source", "triple", "flags": {name: value}, "compiler": "module:function" (optional),
"payload": pickled {"functions" or "lowered": ...} (optional: read by the executor alone)}``
    (``triple`` None: the worker's own machine, which is how a native target runs).
    The worker parses `source` with clifkit's reader and compiles every
    function once (with ``"functions": [Function...]``, clifkit IR that is already read, e.g. a
    fuzzer's generated programs, it compiles those instead and `source` is not read; with
    ``"lowered": recording``, the functions as the harness lowered them, `replay.lower_for_worker`,
    it replays and compiles those, and ``"from_ir": True`` says they were not read from `source`).
    A load read from `source` with the flags the binding takes unchanged reuses the module compiled
    last → ``{"ok": True, "functions": {name: reason-or-None}, "ignored_flags": [...],
    "seconds"}`` (a function's reason says why it could not be compiled), or
    ``{"ok": False, "kind": "unsupported"|"error", "message"}``.
``{"op": "run", "requests": [request...], "timeout": seconds or None, "isolation": "batch"|"call"}``
    A request is ``{"function": name, "args": [values], "env": wire environment or None, "line": n}``
    (``args`` leave out the implicit vmctx; the worker passes the environment's), with
    ``"time": True`` to have the call timed (``"seconds"`` in its result: the call alone).
    → ``{"ok": True, "results": [result...], "children": n}``, one result per request (``children``:
    the processes the batch ran in, the worker's executors, `supervisor.py`):
    ``{"kind": "returned", "values": [...]}``, ``{"kind": "trapped", "code", "detail"}``,
    ``{"kind": "crashed", "signal", "signame", "address", "pc", "sp", "where", "code", "detail"}``
    (``where``: ``%f+0x1c``, the function the pc is in; ``code``: the signal's si_code),
    ``{"kind": "timeout", "seconds"}``, ``{"kind": "skipped", "reason"}`` or
    ``{"kind": "error", "message"}``.
``{"op": "quit"}``
    → no reply; the worker exits.

Worker ← executor (or a forked child running a batch of requests): the executor first writes
`BATCH_READY` once the batch is set up (its trampolines compiled); then one ``(index, result)``
message per request on a pipe, in order; a crash is the last one (written by the signal
handler, which then ends the process); the executor ends a batch with ``(None, None)``.
"""

from __future__ import annotations

import errno
import os
import pickle
import select
import struct
import time
from typing import Any, Optional, Sequence

HEADER = struct.Struct(">I")
MAX_MESSAGE = 1 << 30
PICKLE_PROTOCOL = 4

# What the executor writes once a batch is set up, before its first request's result
# (`Worker.run_here`): the supervisor times the requests from there (`supervisor.py`).
BATCH_READY = ("ready", None)


class ProtocolError(Exception):
    """The other end sent something that is not a message, or went away mid-message."""


class ChannelClosed(ProtocolError):
    """The other end closed its side (it exited or died)."""


class Timeout(ProtocolError):
    """No message arrived in time."""


def encode(obj: Any) -> bytes:
    body = pickle.dumps(obj, protocol=PICKLE_PROTOCOL)
    return HEADER.pack(len(body)) + body


def write_all(fd: int, data: bytes) -> None:
    try:
        n = os.write(fd, data)  # a message nearly always goes in one write
    except InterruptedError:
        n = 0
    if n == len(data):
        return
    view = memoryview(data)[n:]
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[n:]


def send(fd: int, obj: Any) -> None:
    write_all(fd, encode(obj))


def _read_some(fd: int, size: int, deadline: Optional[float], midway: bool) -> bytes:
    """Up to `size` bytes of `fd` once some arrive, before `deadline`; `midway`: part of a message
    was read, so that the end of the pipe is a broken message rather than a closed channel."""
    while True:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise Timeout("no reply in time")
        try:
            chunk = os.read(fd, size)
        except InterruptedError:
            continue
        except OSError as e:
            if e.errno in (errno.EBADF, errno.EPIPE, errno.ECONNRESET):
                raise ChannelClosed(str(e)) from None
            raise
        if not chunk:
            if midway:
                raise ProtocolError("the other end closed its pipe mid-message")
            raise ChannelClosed("the other end closed its pipe")
        return chunk


def _read_exact(fd: int, n: int, deadline: Optional[float]) -> bytes:
    chunks = []
    while n:
        chunk = _read_some(fd, min(n, 1 << 20), deadline, bool(chunks))
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv(fd: int, timeout: Optional[float] = None) -> Any:
    """The next message on `fd`; raises ChannelClosed at end of file, Timeout after `timeout` s."""
    deadline = None if timeout is None else time.monotonic() + timeout
    (length,) = HEADER.unpack(_read_exact(fd, HEADER.size, deadline))
    if length > MAX_MESSAGE:
        raise ProtocolError(f"a message of {length} bytes: not a clifkit worker?")
    body = _read_exact(fd, length, deadline)
    try:
        return pickle.loads(body)
    except Exception as e:
        raise ProtocolError(f"an undecodable message: {type(e).__name__}: {e}") from None


class Reader:
    """The messages of one pipe, `recv` as above, read in pieces as large as are there: a forked
    child's answers often arrive several at a time, and then cost no read of their own."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buffer = bytearray()

    def recv(self, timeout: Optional[float] = None) -> Any:
        deadline = None
        buffer = self.buffer
        while True:
            if len(buffer) >= HEADER.size:
                (length,) = HEADER.unpack_from(buffer)
                if length > MAX_MESSAGE:
                    raise ProtocolError(f"a message of {length} bytes: not a clifkit worker?")
                end = HEADER.size + length
                if len(buffer) >= end:
                    body = bytes(buffer[HEADER.size:end])
                    del buffer[:end]
                    try:
                        return pickle.loads(body)
                    except Exception as e:
                        raise ProtocolError(f"an undecodable message: {type(e).__name__}: {e}") from None
            if timeout is not None and deadline is None:
                deadline = time.monotonic() + timeout
            chunk = _read_some(self.fd, 1 << 16, deadline, bool(buffer))
            buffer += chunk


# -- values in 16-byte slots ------------------------------------------------------------------

SLOT_BYTES = 16


def value_to_bytes(value, ty, byteorder: str) -> bytes:
    """The in-memory bytes of `value` (a bit pattern, or a tuple of lane patterns) of CLIF type `ty`."""
    if ty.is_vector:
        lane_bytes = ty.lane_bits // 8
        mask = (1 << ty.lane_bits) - 1
        return b"".join((int(lane) & mask).to_bytes(lane_bytes, byteorder) for lane in value)
    nbytes = max(ty.bits // 8, 1)
    return (int(value) & ((1 << (nbytes * 8)) - 1)).to_bytes(nbytes, byteorder)


def value_from_bytes(data: bytes, ty, byteorder: str):
    if ty.is_vector:
        lane_bytes = ty.lane_bits // 8
        return tuple(int.from_bytes(data[i * lane_bytes : (i + 1) * lane_bytes], byteorder) for i in range(ty.lanes))
    return int.from_bytes(data[: max(ty.bits // 8, 1)], byteorder)


def pack_slots(values: Sequence, types: Sequence, byteorder: str) -> bytes:
    """Arguments laid out for a trampoline: value i at byte 16*i."""
    out = bytearray(SLOT_BYTES * max(len(types), 1))
    for i, (value, ty) in enumerate(zip(values, types)):
        data = value_to_bytes(value, ty, byteorder)
        if len(data) > SLOT_BYTES:
            raise ValueError(f"a {ty} does not fit a {SLOT_BYTES}-byte slot")
        out[SLOT_BYTES * i : SLOT_BYTES * i + len(data)] = data
    return bytes(out)


def unpack_slots(data: bytes, types: Sequence, byteorder: str) -> list:
    return [value_from_bytes(data[SLOT_BYTES * i : SLOT_BYTES * (i + 1)], ty, byteorder) for i, ty in enumerate(types)]


_SLOT_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}


class SlotCodec:
    """`pack_slots` and `unpack_slots` for one list of types in one byte order, worked out once
    (`slot_codec`): one `struct.Struct` for all the slots, each value (or its lanes) then zeros to
    16 bytes. The same bytes and values as those functions, at a fraction of their Python: an
    emulated worker's child packs and unpacks every run line's slots."""

    __slots__ = ("struct", "masks", "lanes", "size")

    def __init__(self, layout: struct.Struct, masks: tuple, lanes: Optional[tuple], size: int):
        self.struct = layout
        self.masks = masks  # per slot: the mask of its value, or of each of its lanes
        self.lanes = lanes  # per slot: its lane count, 0 for a scalar; None when all are scalars
        self.size = size  # bytes of the slots (at least one slot, as `pack_slots`)

    def pack_into(self, buffer, values: Sequence) -> None:
        """Write `values` into `buffer`'s slots. Raises (TypeError, struct.error) where
        `pack_slots` might give something else: a value that is not an int, a wrong lane count."""
        if self.lanes is None:
            self.struct.pack_into(buffer, 0, *[v & m for v, m in zip(values, self.masks)])
            return
        flat: list = []
        for value, mask, lanes in zip(values, self.masks, self.lanes):
            if lanes:
                flat.extend([lane & mask for lane in value])
            else:
                flat.append(value & mask)
        self.struct.pack_into(buffer, 0, *flat)

    def unpack_from(self, buffer) -> list:
        flat = self.struct.unpack_from(buffer)
        if self.lanes is None:
            return list(flat)
        out: list = []
        i = 0
        for lanes in self.lanes:
            if lanes:
                out.append(flat[i : i + lanes])
                i += lanes
            else:
                out.append(flat[i])
                i += 1
        return out


_CODECS: dict = {}


def slot_codec(types: Sequence, byteorder: str) -> Optional[SlotCodec]:
    """The `SlotCodec` of `types` (interned clifkit types) in `byteorder`, or None when a slot
    holds something else than 1, 2, 4 or 8-byte values or lanes (i128: `pack_slots` does it)."""
    key = (tuple(types), byteorder)
    if key in _CODECS:
        return _CODECS[key]
    parts = ["<" if byteorder == "little" else ">"]
    masks: list = []
    lanes: list = []
    codec: Optional[SlotCodec] = None
    for ty in types:
        count = ty.lanes if ty.is_vector else 1
        width = ty.lane_bits // 8 if ty.is_vector else max(ty.bits // 8, 1)
        if width not in _SLOT_FORMATS or (ty.is_vector and (ty.dynamic or ty.lane_bits % 8)) or count * width > SLOT_BYTES:
            break
        parts.append(f"{count}{_SLOT_FORMATS[width]}" + (f"{SLOT_BYTES - count * width}x" if count * width < SLOT_BYTES else ""))
        masks.append((1 << (8 * width)) - 1)
        lanes.append(count if ty.is_vector else 0)
    else:
        if not types:
            parts.append(f"{SLOT_BYTES}x")  # the one slot pack_slots makes, zeros
        codec = SlotCodec(struct.Struct("".join(parts)), tuple(masks), tuple(lanes) if any(lanes) else None,
                          SLOT_BYTES * max(len(types), 1))
    _CODECS[key] = codec
    return codec
