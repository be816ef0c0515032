"""`--compare`: every native result of a ``test run`` line checked against the interpreter's.

The native session is wrapped (`Recording`) so that each outcome can be compared after the
line is judged; the interpreter runs each call once per file (cached), whichever targets the
native engine runs it on. A disagreement is a failed run of its own (kind ``compare``).
"""

from __future__ import annotations

from typing import Optional

from ..ir.function import TestFile
from ..reader.directives import BoundRun
from .engines import ENGINES
from ..engine import EngineUnavailable, Returned, Trapped
from ..environment.guarantee import explain
from .plans import Options, RunItem, nondeterministic_skip
from .results import FAILED, RunResult
from ..environment.byteorder import target_byteorder
from ..ir.floats import is_nan
from ..ir.values import check_value, format_values, values_equal


class Recording:
    """A session that remembers the outcome of every call (for `compare_engines`)."""

    def __init__(self, session):
        self.session = session
        self.engine = session.engine
        self.target = session.target
        self.note = getattr(session, "note", None)
        self.outcomes: dict[int, tuple[BoundRun, object]] = {}

    def prefetch(self, calls) -> None:
        prefetch = getattr(self.session, "prefetch", None)
        if prefetch is not None:
            prefetch(calls)

    def call(self, bound: BoundRun, env: object = None):
        outcome = self.session.call(bound, env)
        self.outcomes[id(bound)] = (bound, outcome)
        return outcome

    def close(self) -> None:
        self.session.close()


def _interpreter_outcome(tf: TestFile, bound: BoundRun, env: object, options: Options, target: Optional[str]):
    """The interpreter's outcome for the same call, in the byte order of the native session's
    `target` (one interpreter per file and byte order, outcomes cached by line: the targets of
    one byte order compare against the same run)."""
    byteorder = target_byteorder(target)
    caches = getattr(tf, "_compare_cache", None)
    if caches is None:
        caches = {}
        setattr(tf, "_compare_cache", caches)
    cache = caches.get(byteorder)
    if cache is None:
        engine = ENGINES["interpreter"]
        try:
            session = engine.open(tf, options.engine_options(), None, byteorder=byteorder)
        except EngineUnavailable:
            session = None
        cache = caches[byteorder] = {"session": session, "outcomes": {}}
    key = (bound.command.line, bound.function.name)
    if key not in cache["outcomes"]:
        session = cache["session"]
        cache["outcomes"][key] = session.call(bound, env) if session is not None else None
    return cache["outcomes"][key]


def compare_engines(item: RunItem, session: Recording, tf: TestFile, options: Options) -> Optional[RunResult]:
    """A failed run of its own when the interpreter and the native engine disagree on `item`.
    Only results and traps are compared (skips, crashes and other failures are reported already);
    any NaN equals any NaN, since CLIF leaves NaN bits open. Files testing one architecture's own
    NaN choices (`*-nondeterministic-<arch>.clif`) are not compared. When the interpreter trapped on
    memory the native engine leaves open (`guarantee`), the message says so: the line relies on
    more than the native engine guarantees."""
    p = item.prepared
    if p is None or p.bound is None or nondeterministic_skip(tf.path) is not None:
        return None
    recorded = session.outcomes.get(id(p.bound))
    if recorded is None or recorded[0] is not p.bound:
        return None
    bound, native = recorded
    if not isinstance(native, (Returned, Trapped)):
        return None
    interp = _interpreter_outcome(tf, bound, p.env, options, session.target)
    if not isinstance(interp, (Returned, Trapped)):
        return None
    types = bound.return_types
    hexes = bound.expected_hex or [False] * len(types)

    def show(outcome) -> str:
        if isinstance(outcome, Trapped):
            return f"trap {outcome.code}"
        try:
            return format_values([check_value(v, t) for v, t in zip(outcome.values, types)], types, hexes)
        except ValueError:
            return repr(outcome.values)

    if isinstance(native, Trapped) and isinstance(interp, Trapped):
        if native.code == interp.code:
            return None
    elif isinstance(native, Returned) and isinstance(interp, Returned):
        if _same_results(native.values, interp.values, types):
            return None
    cmd = bound.command
    target = session.target or "the host"
    r = RunResult(p.line, bound.function.name, "native", session.target, FAILED, kind="compare", call=bound.call_text)
    r.expected, r.actual = show(interp), show(native)
    r.message = f"the engines disagree: native ({target}) gives {r.actual}, the interpreter {r.expected}"
    if isinstance(interp, Trapped) and interp.native_open:
        r.message += f"; {explain(interp.native_open)}"
    if isinstance(interp, Trapped) and interp.limit:
        r.message += f" ({interp.limit})"
    import shlex

    r.message += (f" (its trace: clifkit interpret --trace{_same_limits(options)} {shlex.quote(cmd.loc.path)} "
                  f"-k {shlex.quote(bound.call_text)})")
    r.report = f"{cmd.loc.path}:{p.line}: {bound.call_text}: {r.message}"
    r.name = item.name.replace("[", "[compare ", 1) if "[" in item.name else f"{item.name}[compare]"
    return r


def _same_limits(options: Options) -> str:
    """The options a trace needs to run as the interpreter ran here (fuel and depth decide
    where a run stops; the era, how it reads and runs)."""
    from ..engine import DEFAULT_FUEL

    words = ""
    if options.fuel != DEFAULT_FUEL:
        words += f" --fuel {options.fuel}"
    if options.max_call_depth is not None:
        words += f" --max-call-depth {options.max_call_depth}"
    if options.dialect.name != "current":
        words += f" --cranelift {options.dialect.name}"
    return words


def _same_results(a, b, types) -> bool:
    if len(a) != len(b):
        return False
    for x, y, t in zip(a, b, types):
        if t.is_float:
            lanes_x = x if isinstance(x, tuple) else (x,)
            lanes_y = y if isinstance(y, tuple) else (y,)
            if len(lanes_x) != len(lanes_y):
                return False
            for lx, ly in zip(lanes_x, lanes_y):
                if lx != ly and not (is_nan(lx, t.lane_bits) and is_nan(ly, t.lane_bits)):
                    return False
        elif not values_equal([x], [y]):
            return False
    return True

