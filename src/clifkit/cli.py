"""The `clifkit` command line, modelled on Cranelift's `clif-util`.

Each subcommand is a thin layer over the library: parse arguments, call the
library, print results. Input problems are printed as located errors (never a
Python traceback) and give exit status 1.
"""

from __future__ import annotations

import sys

from . import __version__

# Imports are made where they are needed: `clifkit --version` imports only this module, and a
# command builds only its own arguments (see `build_parser`).


def _cmd_test(args: argparse.Namespace) -> int:
    from .runtest.command import main as run_tests

    return run_tests(args)


# What `clifkit fuzz --reader` reads of its options; the campaign's others run no engine there.
_READER_OPTIONS = frozenset({"reader", "corpus", "count", "seed", "out", "verbose", "program"})


def _refuse_options_reader_ignores(args: argparse.Namespace) -> None:
    """Exit 2 for `--corpus` without `--reader`, and for campaign options given with it (an
    option given its default value is no different from one not given)."""
    parser = getattr(args, "fuzz_parser", None)
    if parser is None:
        return
    if not args.reader:
        if args.corpus:
            parser.error("--corpus names the texts --reader mutates: give --reader too")
        return
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    ignored = [a.option_strings[-1] for a in options
               if a.dest not in _READER_OPTIONS and getattr(args, a.dest, a.default) != a.default]
    if ignored:
        taken = ", ".join(a.option_strings[-1] for a in options if a.dest in _READER_OPTIONS and a.dest != "reader")
        what = "not an option" if len(ignored) == 1 else "not options"
        parser.error(f"{', '.join(ignored)}: {what} of --reader, which mutates CLIF text and runs no engine "
                     f"(it takes {taken})")


def _cmd_fuzz(args: argparse.Namespace) -> int:
    _refuse_options_reader_ignores(args)
    from .runtest import interrupts

    with interrupts.sigterm_as_interrupt():  # a campaign stopped by SIGTERM ends as by Ctrl-C
        if getattr(args, "reader", False):
            from .fuzz.reader import run_reader_fuzz

            return run_reader_fuzz(args)
        from .fuzz.cli import run_fuzz

        return run_fuzz(args)


def _cmd_reduce(args: argparse.Namespace) -> int:
    from .fuzz.cli import run_reduce
    from .runtest import interrupts

    with interrupts.sigterm_as_interrupt():  # a reduction stopped by SIGTERM keeps what it found, as by Ctrl-C
        return run_reduce(args)


def _add_test(sub) -> None:
    from .arguments import add_dialect_options, add_harness_options, add_limit_options, add_settings_option

    p = sub.add_parser("test", help="run the run tests (`; run:` lines) of CLIF files")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or directories (searched for *.clif)")
    p.add_argument("--json", metavar="FILE", help="write a machine-readable report to FILE")
    p.add_argument("-v", "--verbose", action="store_true", help="print every run line, not only failures")
    p.add_argument(
        "--interpret-all",
        action="store_true",
        help="also run `test run` files (not only `test interpret` ones) on the interpreter",
    )
    p.add_argument(
        "--fuel",
        type=int,
        metavar="N",
        help="instructions the interpreter may execute per run line before giving up (default 10^9)",
    )
    p.add_argument("--max-call-depth", type=int, metavar="N", help="deepest call nesting the interpreter allows")
    p.add_argument(
        "--engine",
        choices=("interpreter", "native", "all"),
        default="all",
        help="which engines run: the interpreter (`test interpret`), the native engine (`test run`, "
        "compiled with Cranelift on each target the host can run), or both (default)",
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="also run every `test run` line on the interpreter; engines that disagree fail the line",
    )
    add_limit_options(p)  # --timeout, --max-memory, --max-reservation, --max-stack-frame
    add_settings_option(p)
    add_dialect_options(p)  # --cranelift, --run-calls
    p.add_argument(
        "--failed-from",
        metavar="REPORT",
        help="repeat only the run lines that failed, errored or timed out in REPORT (a --json report "
        "of an earlier run) among PATHS",
    )
    add_harness_options(p)  # -j, -k, --fail-fast, --junit-xml, --color
    p.set_defaults(func=_cmd_test)


def _add_file_commands(sub) -> None:
    from . import file_commands

    file_commands.register(sub)  # cat, verify, cfg


def _add_commands(sub) -> None:
    from . import commands

    commands.register(sub)  # run, interpret, compile, lower


def _add_fuzz(sub) -> None:
    from .fuzz import cli as fuzz_cli

    p = sub.add_parser("fuzz", help="run random CLIF programs on two engines and report disagreements")
    fuzz_cli.add_fuzz_arguments(p)
    p.add_argument(
        "--reader",
        action="store_true",
        help="fuzz the reader, verifier and printer instead: --count mutated CLIF texts (from the project's "
        "examples, or --corpus) must each parse, verify and print stably, or fail with a located error",
    )
    p.add_argument("--corpus", action="append", metavar="PATH",
                   help="with --reader: CLIF files or directories to mutate (repeatable; default: the project's own)")
    p.set_defaults(func=_cmd_fuzz, fuzz_parser=p)


def _add_reduce(sub) -> None:
    from .fuzz import cli as fuzz_cli

    p = sub.add_parser("reduce", help="shrink a failing run test while it fails the same way")
    fuzz_cli.add_reduce_arguments(p)
    from .arguments import add_dialect_options

    add_dialect_options(p)  # --cranelift, --run-calls: the rules the failure was found under
    p.set_defaults(func=_cmd_reduce)


def _add_emulation(sub) -> None:
    from .native.emulation_command import add_arguments

    p = sub.add_parser("emulation", help="set up running aarch64 and s390x code under QEMU user-mode emulation")
    add_arguments(p)


# Each command's arguments, in the order `clifkit --help` lists them. cat, verify and cfg are
# registered together by `file_commands`; run, interpret, compile and lower by `commands`.
_COMMANDS = [
    (("cat", "verify", "cfg"), _add_file_commands), (("test",), _add_test),
    (("run", "interpret", "compile", "lower"), _add_commands), (("fuzz",), _add_fuzz), (("reduce",), _add_reduce),
    (("emulation",), _add_emulation),
]  # fmt: skip


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, which argparse asks for whenever it makes a help
    formatter (every `add_argument` does), worked out the same way without importing shutil and
    the compression modules it imports."""
    import os

    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The argument parser: every command's, or, given a known `command`, only that one's (which
    saves importing what the others need)."""
    import argparse

    class Formatter(argparse.HelpFormatter):
        def __init__(self, prog, indent_increment=2, max_help_position=24, width=None, **kwargs):
            if width is None:
                width = _terminal_columns() - 2  # as HelpFormatter's own default
            super().__init__(prog, indent_increment, max_help_position, width, **kwargs)

    class Parser(argparse.ArgumentParser):  # (its subparsers are Parsers too: argparse's default)
        def __init__(self, *args, formatter_class=Formatter, **kwargs):
            super().__init__(*args, formatter_class=formatter_class, **kwargs)

    parser = Parser(prog="clifkit", description="A toolkit for Cranelift IR (CLIF).")
    parser.add_argument("--version", action="version", version=f"clifkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    known = any(command in names for names, _ in _COMMANDS)
    for names, add in _COMMANDS:
        if not known or command in names:
            add(sub)
    parser.commands = sub.choices  # name -> its parser, for `_unrecognized`
    return parser


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _unrecognized(parser, args, extras: list[str]) -> None:
    """Exit 2 with the command's own usage and error for arguments it does not take (argparse
    would give the top-level usage), naming the commands that take such an option."""
    others: dict[str, list[str]] = {}
    everything = build_parser().commands
    for word in (e.split("=", 1)[0] for e in extras if e.startswith("--")):
        for name, sub in everything.items():
            if name != args.command and word in sub._option_string_actions and name not in others.setdefault(word, []):
                others[word].append(name)
    hints = "".join(f"; clifkit {_listed(names)} take{'s' if len(names) == 1 else ''} {word}"
                    for word, names in others.items() if names)
    parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extras)}{hints}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:
        print(f"clifkit {__version__}")
        return 0
    command = next((a for a in argv if not a.startswith("-")), None)
    if command == "fuzz":
        from .fuzz.cli import attach_dash_values

        argv = attach_dash_values(argv)
    parser = build_parser(command)
    args, extras = parser.parse_known_args(argv)
    if extras:
        _unrecognized(parser, args, extras)
    from .arguments import settings_problem

    problem = settings_problem(args)
    if problem is not None:
        print(f"clifkit {args.command}: error: {problem}", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        from .runtest import interrupts

        print("interrupted", file=sys.stderr)
        return interrupts.exit_status()
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
