"""clifkit's Python API: read, print and verify CLIF; call its functions with Python values.

Everything here is re-exported from ``clifkit``. See ``docs/api.md`` for a tour
with examples (which the test suite runs).

- `parse`, `parse_file`, `parse_function`: CLIF text → IR (`TestFile`, `Function`);
  problems raise `ClifError`, located (``file:line:col: error: ...``);
- `to_text`: IR → canonical CLIF text;
- `verify`: the problems of a file or function, as located `Diagnostic`\\ s;
- `heap_environment`: heaps (and a vmctx struct pointing at them), as a run
  test's ``; heap:`` directives describe them;
- `load` → `Program`, `call`: run functions on an engine with Python values;
  a call returns Python values, or a `Trap`;
- `run_tests`: what ``clifkit test`` does, as a function.

Values cross at the callee's signature types: an integer type takes a Python
`int` (negative or not, as long as it fits: -128..255 for ``i8``) and gives a
signed `int`; a float type takes a `float` (rounded to the type's precision,
as a C cast does), an `int`, or a `str` in CLIF notation (``"0x1.8p1"``,
``"-0.0"``, ``"NaN:0x1"``, read exactly) and gives a `float`; a vector takes a
tuple (or list) of lanes and gives a tuple. ``raw=True`` passes and returns
bit patterns instead (unsigned ints; tuples of them for vectors), which is
how engines hold values and the only lossless form for ``f128``.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass, field, replace
from typing import Any, Optional, TextIO, Union

from .diagnostics import ClifError, Diagnostic, Location
from .ir.function import Directive, Function, FunctionDetails, TestFile
from .ir.types import Type
from .engine import Session
from .environment.layout import Environment

from . import __all__ as _PUBLIC_NAMES

__all__ = list(_PUBLIC_NAMES)  # the names `clifkit` re-exports, listed once in clifkit/__init__.py

PathLike = Union[str, "os.PathLike[str]"]
IR = Union[TestFile, Function]


# -- reading, printing, verifying -------------------------------------------------------------


def parse(text: str, path: str = "<string>") -> TestFile:
    """Read CLIF `text` (called `path` in messages) into a `TestFile`. Raises `ClifError`."""
    from .reader import parse_text

    if not isinstance(text, str):
        raise TypeError(f"parse takes CLIF text (a str), not {type(text).__name__}: parse_file reads a path")
    return parse_text(text, path)


def parse_file(path: PathLike) -> TestFile:
    """Read the CLIF file at `path`. Raises `ClifError` (also when it cannot be read)."""
    from .reader import parse_file as _parse_file

    return _parse_file(os.fspath(path))


def parse_function(text: str, path: str = "<string>") -> Function:
    """Read text holding exactly one CLIF function. Raises `ClifError`."""
    tf = parse(text, path)
    if len(tf.functions) != 1:
        raise ClifError(Diagnostic(Location(path, 1, 1), f"expected one function, found {len(tf.functions)}"))
    return tf.functions[0].function


def to_text(ir: IR) -> str:
    """Canonical CLIF text for a `TestFile` or a `Function` (reading it back gives the same IR)."""
    from .printer import format_function, format_test_file

    if isinstance(ir, TestFile):
        return format_test_file(ir)
    if isinstance(ir, Function):
        return format_function(ir)
    raise TypeError(f"to_text takes a TestFile or a Function, not {type(ir).__name__}")


def verify(ir: IR, text: Optional[str] = None, *, cranelift: Optional[str] = None) -> list[Diagnostic]:
    """Every problem in a `TestFile` or `Function`, located; empty when it is well-formed.

    `text` is the source, to show the offending lines (by default a file's is read from its path).
    `cranelift` chooses the era's rules (``"2022"``; None or ``"current"``: today's, see
    `clifkit.dialect`); another value raises ValueError."""
    from .dialect import dialect
    from .verifier import verify_function, verify_test_file

    rules = dialect(cranelift)
    if isinstance(ir, TestFile):
        return verify_test_file(ir, text, dialect=rules)
    if isinstance(ir, Function):
        source = {i: line for i, line in enumerate(text.splitlines(), 1)} if text is not None else None
        return verify_function(ir, source, dialect=rules)
    raise TypeError(f"verify takes a TestFile or a Function, not {type(ir).__name__}")


# -- environments ---------------------------------------------------------------------------------


def heap_environment(function: Function, *directives: str) -> Environment:
    """The heaps (and the vmctx struct that points at them) that `directives` describe for calls of
    `function`, each written as after ``; heap:`` or ``; table:`` in a run test::

        heap_environment(f, "static, size=0x1000, ptr=vmctx+0, bound=vmctx+8")
        heap_environment(f, "table: elements=4, element_size=8, ptr=vmctx+0, bound=vmctx+8")

    A directive is a heap unless it starts with ``table:`` (``heap:`` may be written too).
    `function` must take ``i64 vmctx`` first. Raises `ClifError` for a malformed directive
    (located at ``<heap N>:1:col``)."""
    from .environment.layout import build_environment

    if not isinstance(function, Function):
        raise TypeError(f"heap_environment takes a Function (Program.function, parse_function), "
                        f"not {type(function).__name__}")
    if not directives:
        raise ValueError("heap_environment needs at least one heap or table directive")
    for text in directives:
        if not isinstance(text, str):
            raise TypeError(f"a directive is text such as \"static, size=0x1000, ptr=vmctx+0\", "
                            f"not {type(text).__name__}")
    found = []
    for i, text in enumerate(directives, 1):
        kind, rest = "heap", text.strip()
        for word in ("heap", "table"):
            if rest.startswith(word + ":"):
                kind, rest = word, rest[len(word) + 1 :].strip()
        found.append(Directive(kind, rest, Location(f"<{kind} {i}>", 1, 1)))
    env = build_environment(FunctionDetails(function, found))
    assert env is not None
    return env


# -- calling functions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Trap:
    """A call that trapped: `code` is the trap code (``heap_oob``, ``int_divz``, ``user7``...);
    `detail` says what happened, when the engine knows (it does not take part in comparisons)."""

    code: str
    detail: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"trap {self.code}"

    def __repr__(self) -> str:
        return f"Trap({self.code!r})"


class EngineError(Exception):
    """The engine could not give the call's answer: it does not support something the function
    uses (`kind` ``"unsupported"``), the run failed (``"failed"``: out of fuel, too deep, crashed),
    ran past its time limit (``"timeout"``), or the engine has a bug (``"internal"``). The message
    is the one `clifkit test` shows."""

    def __init__(self, message: str, kind: str = "failed"):
        super().__init__(message)
        self.kind = kind


def engines() -> list[str]:
    """The names of the engines this clifkit has: ``["interpreter"]``, plus ``"native"`` when present."""
    from .runtest.engines import ENGINES

    return list(ENGINES)


def _float_bits(x: Any, ty: Type, what: str) -> int:
    from .ir.float_values import parse_float
    from .ir.values import ValueSyntaxError

    bits = ty.lane_bits
    if isinstance(x, str):
        try:
            return parse_float(x.strip(), bits)
        except ValueSyntaxError as e:
            raise ValueError(f"{what}: {e}") from None
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"{what} is {ty.name}: expected a float, an int or a CLIF float literal, not {x!r}")
    x = float(x)
    if bits == 128:
        text = "NaN" if x != x else ("Inf" if x == float("inf") else "-Inf" if x == float("-inf") else x.hex())
        if text == "NaN" and struct.pack(">d", x)[0] & 0x80:
            text = "-NaN"
        return parse_float(text, 128)
    fmt = {16: "<e", 32: "<f", 64: "<d"}[bits]
    try:
        packed = struct.pack(fmt, x)
    except OverflowError:
        raise ValueError(f"{what}: {x!r} is too large for {ty.name}") from None
    return int.from_bytes(packed, "little")


def _int_bits(x: Any, ty: Type, what: str) -> int:
    if isinstance(x, bool):
        x = int(x)
    if not isinstance(x, int):
        raise TypeError(f"{what} is {ty.name}: expected an int, not {x!r}")
    bits = ty.lane_bits
    low, high = -(1 << (bits - 1)), (1 << bits) - 1
    if not low <= x <= high:
        raise ValueError(f"{what}: {x} does not fit in {ty.name} (from {low} to {high})")
    return x & high


def to_bits(value: Any, ty: Type, what: str = "the value") -> Union[int, tuple]:
    """A Python value as the bit pattern an engine holds at type `ty` (see the module doc)."""
    if ty.is_vector:
        lane = ty.lane_type
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value < (1 << ty.bits):
                raise ValueError(f"{what}: {value:#x} does not fit in {ty.name} ({ty.bits} bits)")
            m = (1 << lane.bits) - 1
            return tuple((value >> (i * lane.bits)) & m for i in range(ty.lanes))
        if not isinstance(value, (tuple, list)):
            raise TypeError(f"{what} is {ty.name}: expected a tuple of {ty.lanes} lanes, not {value!r}")
        if len(value) != ty.lanes:
            raise ValueError(f"{what} is {ty.name}, which has {ty.lanes} lanes, but {len(value)} are given")
        return tuple(to_bits(v, lane, f"lane {i} of {what}") for i, v in enumerate(value))
    if ty.is_float:
        return _float_bits(value, ty, what)
    return _int_bits(value, ty, what)


def from_bits(bits: Union[int, tuple], ty: Type) -> Any:
    """A bit pattern at type `ty` as a Python value: a signed int, a float, a tuple for a vector."""
    if ty.is_vector:
        assert isinstance(bits, tuple)
        return tuple(from_bits(b, ty.lane_type) for b in bits)
    assert isinstance(bits, int)
    if ty.is_float:
        if ty.lane_bits == 128:
            return _f128_to_float(bits)
        fmt = {16: "<e", 32: "<f", 64: "<d"}[ty.lane_bits]
        return struct.unpack(fmt, bits.to_bytes(ty.lane_bits // 8, "little"))[0]
    if bits >> (ty.lane_bits - 1):
        return bits - (1 << ty.lane_bits)
    return bits


def _f128_to_float(bits: int) -> float:
    """The nearest float to an f128 bit pattern (infinities, NaNs and signed zeros kept)."""
    from fractions import Fraction

    sign = -1.0 if bits >> 127 else 1.0
    e = (bits >> 112) & 0x7FFF
    t = bits & ((1 << 112) - 1)
    if e == 0x7FFF:
        return sign * float("inf") if t == 0 else float("nan") * sign
    if e == 0:
        value = Fraction(t, 1 << 112) * Fraction(2) ** (1 - 16383)
    else:
        value = Fraction((1 << 112) | t, 1 << 112) * Fraction(2) ** (e - 16383)
    try:
        return sign * float(value) if value else sign * 0.0
    except OverflowError:
        return sign * float("inf")


class Program:
    """Functions loaded on an engine, to call by name with Python values.

    ``Program(source)`` takes a `TestFile`, CLIF text, or a path (`os.PathLike`, or a `str` naming
    an existing ``.clif`` file). The engine (``"interpreter"``, or ``"native"`` where clifkit has
    it; `engines()` lists them) compiles or prepares each function once; close the program (or use
    it in a ``with`` block) to release the engine's resources. `fuel` and `max_call_depth` limit
    the interpreter, `timeout` (seconds) any engine, as `clifkit test --fuel/--timeout` do;
    `cranelift` chooses the era's rules, as `clifkit test --cranelift` (``"2022"``)."""

    def __init__(
        self,
        source: Union[TestFile, PathLike],
        *,
        engine: str = "interpreter",
        target: Optional[str] = None,
        fuel: Optional[int] = None,
        max_call_depth: Optional[int] = None,
        timeout: Optional[float] = None,
        cranelift: Optional[str] = None,
    ):
        from .dialect import dialect
        from .engine import DEFAULT_FUEL, EngineOptions, EngineUnavailable
        from .runtest.engines import ENGINES

        self.dialect = dialect(cranelift)
        _check_limits(fuel=fuel, max_call_depth=max_call_depth, timeout=timeout)
        if target is not None and not isinstance(target, str):
            raise TypeError(f"target={target!r}: expected a target as a `target` line writes it (\"s390x\")")
        if target is not None:
            from .verifier.common import KNOWN_ARCHES

            arch = (target.split() or [""])[0].split("-")[0]
            if arch not in KNOWN_ARCHES:  # the words of a `target` line, as the verifier checks them
                raise ValueError(f"target={target!r}: unknown target architecture {arch!r}: Cranelift's are "
                                 f"{', '.join(KNOWN_ARCHES)}")
        self.test_file = _as_test_file(source)
        # Nothing the verifier refuses is run: the interpreter could answer for it where Cranelift
        # refuses to compile it (`clifkit test` does the same).
        problems = verify(self.test_file, source if isinstance(source, str) and _is_text(source) else None,
                          cranelift=self.dialect)
        if problems:
            raise ClifError(problems)
        self.functions: dict[str, Function] = {}
        for d in self.test_file.functions:
            self.functions.setdefault(d.function.name, d.function)
        if engine not in ENGINES:
            raise EngineError(f"no engine named {engine} (this clifkit has {', '.join(ENGINES)})", "unsupported")
        self.engine = engine
        options = EngineOptions(fuel=fuel if fuel is not None else DEFAULT_FUEL, max_call_depth=max_call_depth)
        if timeout is not None:
            if not hasattr(options, "timeout"):
                raise EngineError("this clifkit's engines take no time limit", "unsupported")
            options.timeout = timeout
        self._session: Optional[Session] = None
        try:
            self._session = ENGINES[engine].open(self.test_file, options, target)
        except EngineUnavailable as e:
            raise EngineError(str(e), "unsupported") from None

    def __enter__(self) -> "Program":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def function(self, name: str) -> Function:
        """The function called `name` (``"%add"``; the ``%`` may be left out). Raises KeyError."""
        if not isinstance(name, str):
            raise TypeError(f"a function is named by a str (\"%add\"), not {type(name).__name__}")
        key = name if name.startswith("%") else f"%{name}"
        try:
            return self.functions[key]
        except KeyError:
            shown = ", ".join(list(self.functions)[:6])
            raise KeyError(f"no function named {key} (this program defines {shown})") from None

    def environment(self, name: str) -> Optional[Environment]:
        """The environment the file's ``; heap:`` / ``; table:`` directives after function `name`
        describe, or None when there are none. Raises `ClifError` for a malformed directive."""
        from .environment.layout import build_environment

        func = self.function(name)
        for d in self.test_file.functions:
            if d.function is func:
                wanted = [x for x in d.directives if x.kind in ("heap", "table")]
                return build_environment(FunctionDetails(func, wanted)) if wanted else None
        return None

    def _environment_for(self, func: Function, env: Any, nargs: int) -> Optional[Environment]:
        """The environment a call of `func` gets (see `call`), its reservations worked out from
        the declarations `func` can reach. Raises TypeError, or ClifError (located)."""
        from .reader.directives import no_environment_message, takes_vmctx
        from .runtest.plans import callee_environment

        if isinstance(env, str):
            env = (env,)
        if isinstance(env, (tuple, list)):
            env = heap_environment(func, *env)  # ValueError for no directive, TypeError for one not text
        if env is not None and not isinstance(env, Environment):
            raise TypeError(f"env must be an Environment (heap_environment, Program.environment) or directive "
                            f"text such as \"static, size=0x1000, ptr=vmctx+0\", not {type(env).__name__}")
        if env is not None and not takes_vmctx(func):
            raise TypeError(f"{func.name} takes no vmctx first, so env= gives it nothing: call it without env")
        if env is None and takes_vmctx(func) and nargs == len(func.signature.params) - 1:
            # The file's own directives win over inference, as in `clifkit test`.
            env = self.environment(func.name)
        env = callee_environment(env, func, self.functions, nargs=nargs, dialect=self.dialect)
        if env is None and takes_vmctx(func) and nargs == len(func.signature.params) - 1:
            raise TypeError(no_environment_message(func))
        return env

    def call(self, name: str, *args: Any, env: Union[Environment, str, list, None] = None, raw: bool = False) -> Any:
        """Call function `name` with `args` (converted at its parameter types; see the module doc).

        Returns None for a function returning nothing, the value for one result, a tuple for
        several, or a `Trap` when the call trapped. With `env` (`heap_environment`,
        `Program.environment`, or directive texts as `heap_environment` takes them) every call
        gets fresh, zeroed heaps, and a function taking ``vmctx`` first gets the environment's:
        leave that argument out. Without `env`, a call that leaves out the ``vmctx`` argument gets the
        environment of the ``; heap:`` / ``; table:`` directives written after the function, as its
        run lines do, or, with none, the one its heap and table declarations imply, as in a run
        test without directives (docs/heaps.md). Raises `EngineError` when the engine
        cannot answer, `TypeError`/`ValueError` for arguments that do not fit, `ClifError` for
        an environment that does not fit the declarations."""
        from .reader.directives import BoundRun, RunCommand, takes_vmctx
        from .engine import Failed, Returned, Skipped, Trapped

        if self._session is None:
            raise ValueError("the program is closed")
        func = self.function(name)
        env = self._environment_for(func, env, len(args))
        implicit = env is not None and takes_vmctx(func)
        params = [p.type for p in func.signature.params][1 if implicit else 0 :]
        returns = [r.type for r in func.signature.returns]
        if len(args) != len(params):
            plural = "argument" if len(params) == 1 else "arguments"
            types = f" ({', '.join(t.name for t in params)})" if params else ""
            vm = " besides the environment's vmctx" if implicit else ""
            raise TypeError(f"{func.name} takes {len(params)} {plural}{types}{vm}, but {len(args)} are given")
        convert = _check_raw if raw else to_bits
        values = [convert(a, t, f"argument {i + 1} of {func.name}") for i, (a, t) in enumerate(zip(args, params))]
        command = RunCommand("run", Location("<Program.call>", 0, 0), None)  # line 0: no run line
        bound = BoundRun(command, func, values, params, returns, implicit_vmctx=implicit)
        outcome = self._session.call(bound, env)
        if isinstance(outcome, Trapped):
            return Trap(outcome.code, outcome.detail)
        if isinstance(outcome, Skipped):
            raise EngineError(outcome.reason, "unsupported")
        if isinstance(outcome, Failed):
            if type(outcome).__name__ == "TimedOut":
                raise EngineError(outcome.message, "timeout")
            raise EngineError(outcome.message, "internal" if outcome.internal else "failed")
        assert isinstance(outcome, Returned)
        results = list(outcome.values)
        if not raw:
            results = [from_bits(v, t) for v, t in zip(results, returns)]
        if not results:
            return None
        return results[0] if len(results) == 1 else tuple(results)


# What each limit counts, for its message (`clifkit test` refuses the same values).
_LIMIT_UNITS = {"fuel": "instructions", "max_call_depth": "calls", "timeout": "seconds", "jobs": "processes"}


def _check_limits(**limits: Any) -> None:
    """Refuse, before anything runs, a limit the command line would refuse: TypeError for one that
    is not a number (a whole one for counts), ValueError for one that is not positive."""
    for name, value in limits.items():
        if value is None:
            continue
        whole = name != "timeout"
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
            kind = "a whole number" if whole else "a number"
            raise TypeError(f"{name}={value!r}: expected {kind} of {_LIMIT_UNITS[name]}")
        if not value > 0:
            raise ValueError(f"{name}={value!r}: expected a positive number of {_LIMIT_UNITS[name]}")


def _check_raw(value: Any, ty: Type, what: str) -> Union[int, tuple]:
    from .ir.values import check_value

    try:
        return check_value(value, ty)
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None


def _is_text(source: str) -> bool:
    """Whether a `str` source is CLIF text rather than a path: text has a newline, or is not the
    name of an existing file and does not look like one (a ``.clif`` name)."""
    if "\n" in source:
        return True
    return not os.path.isfile(source) and not source.strip().endswith(".clif")


def _as_test_file(source: Union[TestFile, PathLike]) -> TestFile:
    if isinstance(source, TestFile):
        return source
    if isinstance(source, os.PathLike):
        return parse_file(source)
    if isinstance(source, str):
        if not _is_text(source):
            return parse_file(source)
        try:
            return parse(source)
        except ClifError as e:
            if "\n" in source or any(c.isspace() for c in source.strip()):
                raise
            # One word that does not read as CLIF: most likely a path to a file that is not there.
            first = e.diagnostics[0]
            note = (f"; read as CLIF text, since no file {source!r} exists (a str is read as a path when "
                    f"it names a file or ends in .clif)")
            raise ClifError([replace(first, message=first.message + note), *e.diagnostics[1:]]) from None
    raise TypeError(f"expected a TestFile, CLIF text or a path, not {type(source).__name__}")


def load(source: Union[TestFile, PathLike], *, engine: str = "interpreter", target: Optional[str] = None,
         fuel: Optional[int] = None, max_call_depth: Optional[int] = None,
         timeout: Optional[float] = None, cranelift: Optional[str] = None) -> Program:
    """A `Program` for `source` on `engine` (see `Program`)."""
    return Program(source, engine=engine, target=target, fuel=fuel, max_call_depth=max_call_depth, timeout=timeout,
                   cranelift=cranelift)


def call(source: Union[TestFile, PathLike], name: str, *args: Any, engine: str = "interpreter",
         env: Union[Environment, str, list, None] = None, raw: bool = False, target: Optional[str] = None,
         fuel: Optional[int] = None, max_call_depth: Optional[int] = None, timeout: Optional[float] = None,
         cranelift: Optional[str] = None) -> Any:
    """Load `source` (`load`'s options), call `name` once, close: ``call(text, "%add", 1, 2)``
    (see `Program.call`)."""
    with load(source, engine=engine, target=target, fuel=fuel, max_call_depth=max_call_depth, timeout=timeout,
              cranelift=cranelift) as program:
        return program.call(name, *args, env=env, raw=raw)


# -- run tests ------------------------------------------------------------------------------------

from .runtest.runner import TestRun  # noqa: E402  (re-exported)


def run_tests(
    *paths: PathLike,
    jobs: int = 1,
    keyword: Optional[str] = None,
    fail_fast: bool = False,
    interpret_all: bool = False,
    fuel: Optional[int] = None,
    max_call_depth: Optional[int] = None,
    engine: str = "all",
    compare: bool = False,
    timeout: Optional[float] = None,
    verbose: bool = False,
    out: Optional[TextIO] = None,
    cranelift: Optional[str] = None,
    run_calls: Optional[str] = None,
) -> TestRun:
    """Run the run tests of files and directories, as ``clifkit test`` does (with ``-j jobs``,
    ``-k keyword``, ``--fail-fast``, ``--interpret-all``, ``--engine``, ``--compare``,
    ``--timeout``, ``--cranelift``, ``--run-calls``), printing its lines to `out` (nothing when None). Returns the `TestRun`: `results` per file, and `summary` (the last line of
    ``clifkit test``), `passed`, `failed`, `skipped`."""
    from .limits import DEFAULT_LIMITS
    from .engine import DEFAULT_FUEL
    from .runtest.plans import Options
    from .runtest.runner import run_tests as _run_tests

    if engine not in ("interpreter", "native", "all"):
        raise ValueError(f"engine={engine!r}: expected 'interpreter', 'native' or 'all'")
    _check_limits(fuel=fuel, max_call_depth=max_call_depth, timeout=timeout, jobs=jobs)
    if keyword is not None and not isinstance(keyword, str):
        raise TypeError(f"keyword={keyword!r}: expected a -k expression (a str)")
    from .dialect import calls_followed, dialect
    from .runtest.select import matcher

    rules = dialect(cranelift)  # DialectError (a ValueError) for an unknown era
    calls_followed(rules, run_calls)  # ... or an unknown run_calls
    matcher(keyword)  # raises KeywordError (a ValueError) for a malformed expression
    options = Options(
        verbose=verbose,
        interpret_all=interpret_all,
        fuel=fuel if fuel is not None else DEFAULT_FUEL,
        max_call_depth=max_call_depth,
        keyword=keyword,
        fail_fast=fail_fast,
        engine=engine,
        compare=compare,
        limits=DEFAULT_LIMITS.with_(timeout=timeout),
        dialect=rules,
        run_calls=run_calls,
    )
    return _run_tests([os.fspath(p) for p in paths], options, out if out is not None else io.StringIO(), jobs)
