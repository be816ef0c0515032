"""What a ``try_call`` adds to the IR: its exception table (signature, normal-return block call,
handlers), and the block-call arguments only its edges take (``retN``: the callee's N-th return
value; ``exnN``: the N-th exception payload). Apart from `function.py`: only functions with a
try_call make them."""

from __future__ import annotations

from dataclasses import dataclass, field

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional, Union

    from .function import BlockCall

    BlockArg = Union[int, "TryCallRet", "TryCallExn"]  # a block call's argument: a value, or retN / exnN


@dataclass(frozen=True)
class TryCallRet:
    """``retN`` in a try_call's normal-return block call: the callee's N-th return value."""

    index: int

    def __str__(self) -> str:
        return f"ret{self.index}"


@dataclass(frozen=True)
class TryCallExn:
    """``exnN`` in a try_call's exception block call: the N-th exception payload."""

    index: int

    def __str__(self) -> str:
        return f"exn{self.index}"


@dataclass
class ExceptionTableData:
    """A try_call's signature, normal-return target and handlers (``tag: block`` or ``default: block``).

    ``context vN`` entries (Cranelift 0.124 on) name the value the unwinder compares to find which
    handlers apply; they take no part in control flow. Each is kept with the number of handlers
    written before it, so that the table prints in the order it was read."""

    sig_ref: int
    normal: BlockCall
    handlers: list[tuple[Optional[str], BlockCall]]  # tag text such as "tag0", or None for default
    contexts: list[tuple[int, int]] = field(default_factory=list)  # (handlers before it, value)
