"""The clifkit pytest plugin: CLIF run tests as pytest items.

Installed with clifkit (entry point ``pytest11: clifkit``), so ``pytest DIR``
collects the ``.clif`` files under DIR that have run tests. Each run line, once
per engine and target that runs it, is one item, named as in ``clifkit test``::

    heap.clif::%load_store(1, 2)[interpreter]
    heap.clif::%load_store(1, 2)[native x86_64 has_avx]

so ``-k``, ``-x``, ``--lf``, ``--sw`` and pytest-xdist's ``-n`` work as for
Python tests. A failure shows the run line, what was expected and what came
back (or the trap), never a Python traceback.

Which ``.clif`` files are collected is set by the ini option ``clif_collect``:

``args`` (the default)
    only files under the paths given on the command line (``pytest examples/``,
    ``pytest t.clif``): a plain ``pytest`` that runs ``testpaths`` never picks
    up CLIF files it happens to meet (a ``tests/data/`` of inputs, say);
``always``
    every ``.clif`` file pytest visits, ``testpaths`` included;
``never``
    none (as does ``-p no:clifkit``, which unloads the plugin).

Options (command line): ``--clif-engine interpreter|native|all`` (as
``clifkit test --engine``), ``--clif-interpret-all`` (also run ``test run``
files on the interpreter), ``--clif-fuel N``, ``--clif-max-call-depth N``,
``--clif-cranelift 2022`` and ``--clif-run-calls followed`` (as ``clifkit test
--cranelift`` and ``--run-calls``).
Files run in the pytest process (xdist gives parallelism); each file's engine
sessions are opened on its first item and closed after its last.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import pytest

from .runtest.results import ERROR, FAILED, PASSED, SKIPPED, FileResult, RunResult

COLLECT_MODES = ("args", "always", "never")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("clifkit", "clifkit: CLIF run tests (.clif files)")
    group.addoption(
        "--clif-interpret-all",
        action="store_true",
        default=False,
        help="also run `test run` files on the interpreter",
    )
    group.addoption(
        "--clif-engine",
        default=None,
        choices=("interpreter", "native", "all"),
        help="which engines run the run lines, as `clifkit test --engine` (default: all that apply)",
    )
    group.addoption("--clif-compare", action="store_true", default=False,
                    help="also run every `test run` line on the interpreter; engines that disagree fail the "
                    "item, as `clifkit test --compare`")
    group.addoption("--clif-timeout", type=float, default=None, metavar="SECONDS",
                    help="stop a run line that runs longer than this, as `clifkit test --timeout`")
    group.addoption("--clif-fuel", type=int, default=None, metavar="N",
                    help="instructions the interpreter may execute per run line (default 10^9)")
    group.addoption("--clif-max-call-depth", type=int, default=None, metavar="N",
                    help="deepest call nesting the interpreter allows")
    from .dialect import DIALECTS, RUN_CALLS

    group.addoption("--clif-cranelift", default=None, choices=tuple(DIALECTS), metavar="ERA",
                    help=f"follow the rules of Cranelift of that era ({' or '.join(DIALECTS)}), as "
                    "`clifkit test --cranelift`")
    group.addoption("--clif-run-calls", default=None, choices=RUN_CALLS,
                    help="which function a `test run` line calls, as `clifkit test --run-calls`")
    parser.addini(
        "clif_collect",
        "which .clif files to collect: 'args' (only under paths given on the command line; the default), "
        "'always' or 'never'",
        default="args",
    )


def _collect_mode(config: pytest.Config) -> str:
    mode = str(config.getini("clif_collect") or "args").strip().lower()
    if mode not in COLLECT_MODES:
        raise pytest.UsageError(f"clif_collect = {mode!r}: expected one of {', '.join(COLLECT_MODES)}")
    return mode


def _command_line_roots(config: pytest.Config) -> list[Path]:
    """The paths given on the command line (not those from `testpaths` or the current directory)."""
    source = getattr(config, "args_source", None)
    args_kind = getattr(getattr(pytest.Config, "ArgsSource", None), "ARGS", None)
    if source is not None and args_kind is not None:
        if source != args_kind:
            return []
        args = list(config.args)
    else:  # pytest before 7.2: the positional arguments as given
        args = [a for a in config.invocation_params.args if not str(a).startswith("-")]
    base = Path(config.invocation_params.dir)
    roots = []
    for arg in args:
        path_part = str(arg).split("::", 1)[0]
        if not path_part:
            continue
        p = Path(path_part)
        roots.append((p if p.is_absolute() else base / p).resolve())
    return roots


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "interpreter: a CLIF run line on clifkit's interpreter")
    config.addinivalue_line("markers", "native: a CLIF run line compiled natively by Cranelift")
    config.addinivalue_line("markers", "verifier: an expected error (or none) of a `test verifier` CLIF file")
    config.addinivalue_line("markers", "cat: a function of a `test cat` CLIF file matched against its checks")
    config._clifkit_mode = _collect_mode(config)  # type: ignore[attr-defined]
    for option, least in (("clif_fuel", 1), ("clif_max_call_depth", 1), ("clif_timeout", 1e-9)):
        value = config.getoption(option)
        if value is not None and value < least:
            raise pytest.UsageError(f"--{option.replace('_', '-')} must be positive, not {value}")
    config._clifkit_roots = _command_line_roots(config)  # type: ignore[attr-defined]


def _wanted(config: pytest.Config, path: Path) -> bool:
    mode = getattr(config, "_clifkit_mode", "args")
    if mode == "always":
        return True
    if mode == "never":
        return False
    resolved = path.resolve()
    for root in getattr(config, "_clifkit_roots", []):
        if resolved == root or root in resolved.parents:
            return True
    return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Optional["ClifFile"]:
    if file_path.suffix == ".clif" and _wanted(parent.config, file_path):
        return ClifFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Tell each file which of its items will run (after -k, -m, --lf), for engines that take a
    file's run lines in one batch."""
    for item in session.items:
        if isinstance(item, ClifItem) and item.run_item.plan is not None:
            item.clif_file._chosen.setdefault(id(item.run_item.plan), []).append(item)


def _options(config: pytest.Config):
    from .dialect import dialect
    from .engine import DEFAULT_FUEL
    from .runtest.plans import Options
    from .limits import DEFAULT_LIMITS

    fuel = config.getoption("clif_fuel")
    return Options(
        interpret_all=bool(config.getoption("clif_interpret_all")),
        fuel=fuel if fuel is not None else DEFAULT_FUEL,
        max_call_depth=config.getoption("clif_max_call_depth"),
        engine=config.getoption("clif_engine") or "all",
        compare=bool(config.getoption("clif_compare")),
        limits=DEFAULT_LIMITS.with_(timeout=config.getoption("clif_timeout")),
        dialect=dialect(config.getoption("clif_cranelift")),
        run_calls=config.getoption("clif_run_calls"),
    )


def _shown_path(config: pytest.Config, path: Path) -> str:
    """The path as messages show it: relative to where pytest was started, when it is below it."""
    try:
        rel = os.path.relpath(path, config.invocation_params.dir)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


class ClifFile(pytest.File):
    """A .clif file: its items are its run lines, per engine and target."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sessions: dict[int, tuple[Any, Optional[str]]] = {}
        self._prepared = None
        self._chosen: dict[int, list[ClifItem]] = {}  # id(plan) -> the items that will run

    def collect(self):
        from .runtest.runner import file_items, prepare_file

        self._options = _options(self.config)
        scratch = FileResult(_shown_path(self.config, self.path))
        self._prepared = prepare_file(scratch.path, self._options, scratch)
        for item in file_items(self._prepared, scratch):
            # The node id as a string: pytest (9.2 on) parses it the way it parses the ids it
            # reads back from its cache (`--lf`) and from the command line; the bracket of the
            # name is then the "params" part, as for a parametrized Python test.
            yield ClifItem.from_parent(self, name=item.name, nodeid=f"{self.nodeid}::{item.name}", run_item=item)

    def comparing(self, plan) -> bool:
        """Whether `plan`'s run lines are also checked against the interpreter (--clif-compare)."""
        return self._options.compare and plan.engine == "native" and plan.mode == "run"

    def session_for(self, plan) -> tuple[Any, Optional[str]]:
        """The engine session of `plan` (opened on first use), or (None, why its runs are skipped)."""
        from .runtest.execute import open_session

        key = id(plan)
        if key not in self._sessions:
            assert self._prepared is not None and self._prepared.test_file is not None
            session, skip_reason = open_session(plan, self._prepared.test_file, self._options)
            if self.comparing(plan) and session is not None:
                from .runtest.compare import Recording

                session = Recording(session)  # remembers each native outcome for compare_engines
            self._sessions[key] = (session, skip_reason)
            prefetch = getattr(session, "prefetch", None)
            if prefetch is not None and skip_reason is None:
                # An engine may run the whole batch at once: the items of this file and plan that
                # this session will run (those that -k, -m and --lf left; `pytest_collection_finish`).
                calls = [
                    (i.run_item.prepared.bound, i.run_item.prepared.env)
                    for i in self._chosen.get(key, ())
                    if i.run_item.prepared is not None and i.run_item.prepared.bound is not None
                ]
                if calls:
                    prefetch(calls)
        return self._sessions[key]

    def teardown(self) -> None:
        sessions, self._sessions = self._sessions, {}
        for session, _ in sessions.values():
            if session is not None:
                session.close()


class ClifRunFailed(Exception):
    """A run line failed or could not run (raised by `ClifItem.runtest`; shown by `repr_failure`)."""

    def __init__(self, result: RunResult, text: str):
        super().__init__(result.message)
        self.result = result
        self.text = text


class ClifItem(pytest.Item):
    """One run line on one engine and target."""

    def __init__(self, *, run_item, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_item = run_item
        self.result: Optional[RunResult] = None
        plan = run_item.plan
        engine = plan.engine if plan is not None else run_item.settled.engine
        self.add_marker(engine.replace(" ", "_"))
        self.user_properties.append(("clif_line", run_item.line))

    @property
    def clif_file(self) -> ClifFile:
        parent = self.parent
        assert isinstance(parent, ClifFile)
        return parent

    def _source_line(self) -> Optional[str]:
        prepared = self.run_item.prepared
        if prepared is not None and prepared.bound is not None:
            return prepared.bound.command.source_line
        prepared_file = self.clif_file._prepared
        lines: list[str] = prepared_file.lines if prepared_file is not None else []
        line = self.run_item.line
        return lines[line - 1] if 1 <= line <= len(lines) else None

    def runtest(self) -> None:
        from .runtest.execute import execute_run

        item = self.run_item
        if item.settled is not None:
            r = item.settled
        else:
            # A line its binding refused (settled) goes through execute_run too: on an engine that
            # does not run (left out by --clif-engine, not emulated) it is skipped, as in `clifkit
            # test`, rather than blamed on that engine.
            session, skip_reason = self.clif_file.session_for(item.plan)
            r = execute_run(item.prepared, session, skip_reason)
            if r.status == PASSED and session is not None and self.clif_file.comparing(item.plan):
                from .runtest.compare import compare_engines

                disagreement = compare_engines(item, session, self.clif_file._prepared.test_file,
                                               self.clif_file._options)
                r = disagreement or r
        r.name = self.name
        self.result = r
        if r.status == PASSED:
            if r.kind == "print" and r.report:
                print(r.report)
            return
        if r.status == SKIPPED:
            pytest.skip(r.message or "skipped")
        raise ClifRunFailed(r, failure_text(r, self._source_line()))

    def repr_failure(self, excinfo, style=None):  # type: ignore[override]
        if isinstance(excinfo.value, ClifRunFailed):
            return excinfo.value.text
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, max(self.run_item.line - 1, 0), f"{self.parent.name}:{self.run_item.line}: {self.name}"


def failure_text(r: RunResult, source_line: Optional[str]) -> str:
    """How a failed or erroneous run line is shown: the report `clifkit test` prints, then the
    source line, and what was expected and what came back (or the trap)."""
    lines = [r.report or r.message]
    if r.status == ERROR and r.report and "\n" in r.report:
        return r.report  # a located error already shows its line and a caret
    if source_line is not None:
        lines.append(f"    {source_line.strip()}")
    if r.status == FAILED:
        # A --clif-compare disagreement holds the interpreter's outcome where others hold the
        # line's expectation: labelled "expected", it would contradict the run line shown above.
        first, second = ("interpreter:", "native:     ") if r.kind == "compare" else ("expected:", "actual:  ")
        if r.expected is not None:
            lines.append(f"  {first} {r.expected}")
        if r.actual is not None:
            trapped = " (the call trapped)" if r.actual.startswith("trap ") else ""
            lines.append(f"  {second} {r.actual}{trapped}")
        elif r.expected is not None:
            # The call gave no result (it crashed, say): the pair stays a pair, the reason in it.
            lines.append(f"  {second} no result: {r.message or 'the call did not return'}")
    return "\n".join(lines)
