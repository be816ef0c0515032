"""Delta debugging: the one loop that removes chunks of a sequence while a failure persists.

The run-test reducer removes instructions with it (`reduce.Reducer.pass_instructions`) and the
reader fuzzer shrinks texts that do not read with it (`shrink_text`: lines, then characters),
so the order chunks are tried in and when their size halves are the same in both."""

from __future__ import annotations

from typing import Callable


def remove_chunks(count: Callable[[], int], remove: Callable[[int, int], bool],
                  more: Callable[[], bool] = lambda: True) -> None:
    """Try removing the items [i, i + chunk) of a sequence that now has `count()` items, for i
    from 0 in steps of `chunk`, and chunk from half the length down to 1. `remove(i, chunk)` says
    whether the removal was kept; a kept one is followed by a try at the same position (it now
    holds other items). `more()` false stops it (a budget)."""
    chunk = max(1, count() // 2)
    while more():
        i = 0
        while i < count() and more():
            if not remove(i, chunk):
                i += chunk
        if chunk == 1:
            return
        chunk //= 2


def shrink_text(text: str, fails: Callable[[str], bool], budget: int = 2000) -> str:
    """A smaller text for which `fails` still holds: drop chunks of lines, then of characters
    (bounded by `budget` calls of `fails`)."""
    checks = 0

    def more() -> bool:
        return checks < budget

    for unit in ("\n", ""):
        parts = text.split("\n") if unit else list(text)

        def remove(i: int, chunk: int) -> bool:
            nonlocal parts, checks
            candidate = parts[:i] + parts[i + chunk :]
            checks += 1
            if fails(unit.join(candidate)):
                parts = candidate
                return True
            return False

        remove_chunks(lambda: len(parts), remove, more)
        text = unit.join(parts)
    return text
