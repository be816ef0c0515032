"""The arguments that several `clifkit` commands share, and the check of `--set` before a command
runs: apart from `commands` (run, interpret, compile, lower), so that `clifkit test`, `cat`,
`verify` and `cfg` build their arguments without importing it."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional


def each_parsed(paths):
    """Each file of `paths` with its parsed `TestFile`, or with None after printing its located
    error to standard error (the commands that read files go on with the next one)."""
    from .diagnostics import ClifError
    from .reader import parse_file

    for path in paths:
        try:
            tf = parse_file(path)
        except ClifError as e:
            print(e.format(), file=sys.stderr)
            yield path, None
            continue
        yield path, tf


def add_harness_options(p: argparse.ArgumentParser) -> None:
    """Options of every command that runs run lines: selection, parallelism, reports, output."""
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        metavar="N",
        help="run N files at a time, each in its own process (default: the number of cores)",
    )
    p.add_argument(
        "-k",
        dest="keyword",
        metavar="PATTERN",
        help="run only the items whose name matches: a substring, or an expression of words with "
        "and/or/not, as pytest's -k (names: 'file.clif::%%f(1, 2)[interpreter]')",
    )
    p.add_argument(
        "-x", "--fail-fast", action="store_true", help="stop at the first failed or erroneous run line"
    )
    p.add_argument("--junit-xml", metavar="FILE", help="write a JUnit XML report to FILE (for CI dashboards)")
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the output: auto (the default) on a terminal unless NO_COLOR is set",
    )


def _size_arg(text: str) -> int:
    import argparse

    from .limits import parse_size

    try:
        n = parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a limit must be more than 0 bytes")
    return n


def _seconds_arg(text: str) -> float:
    import argparse

    from .limits import parse_seconds

    try:
        return parse_seconds(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_limit_options(p: argparse.ArgumentParser) -> None:
    """The caps of `clifkit.limits` (sizes take K, M, G, T suffixes: binary units)."""
    from . import limits

    p.add_argument(
        "--timeout",
        type=_seconds_arg,
        metavar="SECONDS",
        help=f"stop a run line that runs longer than this, with status timeout (default {limits.DEFAULT_TIMEOUT:g}; "
        "on every engine: native code is killed, the interpreter stops)",
    )
    p.add_argument(
        "--max-memory",
        type=_size_arg,
        metavar="SIZE",
        help=f"the most a heap, table or vmctx may hold, and the interpreter memory a run line may touch "
        f"(default {limits.format_size(limits.DEFAULT_MAX_MEMORY)})",
    )
    p.add_argument(
        "--max-reservation",
        type=_size_arg,
        metavar="SIZE",
        help=f"the most address space a static heap may reserve (default "
        f"{limits.format_size(limits.DEFAULT_MAX_RESERVATION)})",
    )
    p.add_argument(
        "--max-stack-frame",
        type=_size_arg,
        metavar="SIZE",
        help=f"the largest stack frame (stack slots) a function may have (default "
        f"{limits.format_size(limits.DEFAULT_MAX_STACK_FRAME)})",
    )


def _setting_arg(text: str) -> tuple[str, str]:
    import argparse

    name, eq, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not name or (eq and not value):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE (or NAME for NAME=true)")
    return name, value if eq else "true"


def add_settings_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="settings", action="append", type=_setting_arg, metavar="NAME=VALUE",
                   help="a Cranelift setting for native compilation (opt_level=speed, ...), over the file's own "
                   "`set` lines; repeatable. A setting cranelift-py cannot take is refused with its reason")


def settings_problem(args: argparse.Namespace) -> Optional[str]:
    """Why the `--set` settings cannot be honoured, or None (checked once, before anything runs)."""
    settings = getattr(args, "settings", None) or []
    if not settings:
        return None
    from .commands import native_unavailable

    why = native_unavailable()
    if why is not None:
        return f"--set applies to native compilation, and {why}"
    from .native.lower import setting_problem

    for name, value in settings:
        problem = setting_problem(name, value)
        if problem is not None:
            return f"--set {name}={value}: {problem}"
    return None


def _dialect_arg(text: str):
    import argparse

    from .dialect import DialectError, dialect

    try:
        return dialect(text)
    except DialectError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_dialect_options(p: argparse.ArgumentParser, run_calls: bool = True) -> None:
    """`--cranelift ERA` (`clifkit.dialect`), and `--run-calls` where run lines are run."""
    from .dialect import CURRENT, DIALECTS, RUN_CALLS

    p.add_argument("--cranelift", type=_dialect_arg, default=CURRENT, metavar="ERA",
                   help=f"follow the rules of Cranelift of that era: {' or '.join(DIALECTS)} (default current, "
                   "0.120's); 2022 lets shuffle lanes 32-255 give zero lanes, tables lie over a heap directive's "
                   "memory, and `test run` lines call the function they follow")
    if run_calls:
        p.add_argument("--run-calls", choices=RUN_CALLS, default=None,
                       help="which function a `test run` line calls: the one it names (default; with "
                       "--cranelift 2022: followed) or the one it follows, as Cranelift's `test run` does")
