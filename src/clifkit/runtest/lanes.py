"""Which process of `clifkit test -j N` runs which of a file's plans.

An emulated architecture's native worker (`clifkit.native.emulation`) costs
seconds of CPU before it runs anything at full speed: QEMU starting Python,
then translating Cranelift's own code as the first files compile. Every `-j`
process starts its own worker for each architecture it meets, so that
before, with ``-j 2``, each emulated architecture was paid for twice. Here
the plans of one emulated architecture (its *lane*) all run on one process:
a file naming aarch64 and s390x runs in *parts*, one on each process owning
one of its lanes, each reading the file and running its share of the plans.
One part, the *primary*, runs all the others (the interpreter, the host's
targets, lanes no process owns) and says what the file says of itself (it
cannot be read, does not verify, `test verifier` lines); `merge_parts` makes
of the parts the result one process would have given, plan by plan. Which
part is the primary is settled when the file is handed out (`claim`): the
first of its processes to reach it runs the primary part, so that a process
ahead of the other takes on more, and the two end about together. A file
with no lane goes to whichever process is free.

Which lanes a file has is read from its ``target`` lines before it is parsed
(`file_lanes`). Results never depend on it: the primary part runs every plan
the others do not, whatever the file turns out to hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .results import ERROR, FileResult

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Callable, Optional, Sequence

Task = tuple  # (position, path, problem found by discovery, Part, Offer (until `claim`) or None)


@dataclass(frozen=True)
class Part:
    """A share of a file's plans. `primary`: every plan whose lane is not in `lanes` (the lanes
    the other parts run), and the file's own outcomes; otherwise the plans of `lanes` only."""

    lanes: frozenset
    primary: bool

    def takes(self, plan) -> bool:
        return (plan_lane(plan) in self.lanes) != self.primary


@dataclass(frozen=True)
class Offer:
    """A file's share on one of the processes owning its lanes, before it is known whether that
    process runs the primary part (`claim`). `lanes`: the file's lanes it owns; `every`: all the
    file's lanes that some process owns."""

    lanes: frozenset
    every: frozenset


def claim(task: Task, claimed: set) -> Task:
    """`task` as its process is to run it: an `Offer` becomes the primary part for the first of
    the file's processes to take it (`claimed`: the positions of the files already taken), the
    plans of its own lanes for the others."""
    offer = task[3]
    if not isinstance(offer, Offer):
        return task
    first = task[0] not in claimed
    claimed.add(task[0])
    return (*task[:3], Part(offer.every - offer.lanes, True) if first else Part(offer.lanes, False))


def target_lane(target: Optional[str]) -> Optional[str]:
    """The foreign architecture a ``target`` line's code runs on (emulated), or None: the host's."""
    if not target or not target.split():
        return None
    from ..ir.arch import target_arch
    from ..native.host import host_arch

    arch = target_arch(target)
    return None if arch == host_arch() else arch


def plan_lane(plan) -> Optional[str]:
    return target_lane(plan.target) if plan.engine == "native" else None


_TARGET_LINE = re.compile(r"[ \t]*target[ \t]+(\S+)")


def file_lanes(path: str) -> frozenset:
    """The foreign architectures the file's ``target`` lines name; none for a file run a segment
    at a time (`segments`), which is never split."""
    from .segments import cut

    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return frozenset()
    found = set()
    for line in lines:
        m = _TARGET_LINE.match(line)
        if m is not None:
            lane = target_lane(m.group(1))
            if lane is not None:
                found.add(lane)
    if found and cut(lines) is not None:
        return frozenset()
    return frozenset(found)


def splits(options) -> bool:
    """Whether files may be split at all: not when a failure must stop the run where one process
    running the file would have (--fail-fast), nor when no native plan can run."""
    from .engines import ENGINES

    return not options.fail_fast and options.force_mode is None and options.engine != "interpreter" \
        and "native" in ENGINES


def assign(tasks: Sequence[tuple], jobs: int, size: Callable[[str], int], lanes_of: Callable[[str], frozenset],
           usable: Callable[[str], bool]) -> tuple[list[list[Task]], list[Task], dict[int, int]]:
    """(for each process, the tasks only it runs, the biggest first; the tasks any process runs,
    the biggest first; the number of parts of each file, by position). `lanes_of(path)`: a file's
    lanes; `usable(lane)`: whether its plans can run here (emulation is set up), else no process
    owns it. The lanes go to the processes in turn; a file of several processes' lanes is in the
    tasks of each, as an `Offer` that `claim` settles when it is handed out."""
    found = {t[0]: (lanes_of(t[1]) if t[2] is None else frozenset()) for t in tasks}
    lanes = sorted(lane for lane in {lane for ls in found.values() for lane in ls} if usable(lane))  # once a lane
    owner = {lane: k % jobs for k, lane in enumerate(lanes)}
    pinned: list[list[Task]] = [[] for _ in range(jobs)]
    free: list[Task] = []
    parts: dict[int, int] = {}
    for task in sorted(tasks, key=lambda t: (-size(t[1]), t[0])):
        index, path, problem = task[:3]
        mine = frozenset(lane for lane in found[index] if lane in owner)
        procs = sorted({owner[lane] for lane in mine})
        if not procs:
            free.append((index, path, problem, None))
        elif len(procs) == 1:
            pinned[procs[0]].append((index, path, problem, None))
        else:
            for p in procs:
                its = frozenset(lane for lane in mine if owner[lane] == p)
                pinned[p].append((index, path, problem, Offer(its, mine)))
        parts[index] = max(len(procs), 1)
    return pinned, free, parts


def merge_parts(parts: Sequence[tuple[Optional[Part], FileResult]]) -> FileResult:
    """The result of a file from the results of its parts: the primary's own runs, then each plan's
    runs, notes and skipped engines in plan order, then what went wrong with another part itself
    (its process died); finished and settled as `runner.run_file` does."""
    from .runner import finish_file

    primary = next(r for p, r in parts if p is None or p.primary)
    merged = FileResult(primary.path, primary.status, primary.message, list(primary.runs), list(primary.notes),
                        seconds=sum(r.seconds for _, r in parts), deselected=sum(r.deselected for _, r in parts),
                        engine_skips=dict(primary.engine_skips))
    pieces = sorted((piece for _, r in parts for piece in r.pieces), key=lambda piece: piece[0])
    for _, piece in pieces:
        merged.runs.extend(piece.runs)
        merged.notes.extend(note for note in piece.notes if note not in merged.notes)
        merged.engine_skips.update(piece.engine_skips)
    for _, r in parts:
        if r is not primary and r.runs:  # a part that could not run (`file_problem`)
            merged.runs.extend(r.runs)
            if r.status == ERROR and merged.status != ERROR:
                merged.status, merged.message = ERROR, r.message
    if primary.plans is not None:
        finish_file(primary.plans, merged.path, merged)
    merged.settle()
    return merged
