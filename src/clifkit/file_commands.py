"""`clifkit cat`, `clifkit verify` and `clifkit cfg`: the commands that read CLIF files and print
what they find (the canonical text, the verifier's diagnostics, control-flow graphs), running
nothing. Apart from `cli`, so that the other commands (`clifkit test` above all) do without them."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    import argparse


def register(sub) -> None:
    """Add `cat`, `verify` and `cfg` to the `clifkit` subcommands."""
    _add_cat(sub)
    _add_verify(sub)
    _add_cfg(sub)


def _cmd_cat(args: argparse.Namespace) -> int:
    from .arguments import each_parsed
    from .printer import format_test_file

    status = 0
    for _, tf in each_parsed(args.files):
        if tf is None:
            status = 1
        else:
            sys.stdout.write(format_test_file(tf))
    return status


def _cmd_verify(args: argparse.Namespace) -> int:
    from .arguments import each_parsed
    from .verifier import verify_test_file

    status = 0
    for path, tf in each_parsed(args.files):
        if tf is None:
            status = 1
            continue
        problems = verify_test_file(tf, dialect=args.cranelift)
        for d in problems:
            print(d.format(), file=sys.stderr)
        if problems:
            status = 1
        elif args.verbose:
            print(f"{path}: ok")
    return status


def _cmd_cfg(args: argparse.Namespace) -> int:
    from .arguments import each_parsed
    from .cfg import function_dot, render_svg

    dots: list[str] = []
    status = 0
    for path, tf in each_parsed(args.files):
        if tf is None:
            status = 1
            continue
        chosen = [d.function for d in tf.functions if args.function in (None, d.function.name)]
        if not chosen:
            what = "no function" if args.function is None else f"no function named {args.function}"
            print(f"{path}: error: {what}", file=sys.stderr)
            status = 1
        dots.extend(function_dot(f) for f in chosen)
    text = "".join(dots)
    if args.output is None:
        sys.stdout.write(text)
    elif args.output.endswith(".svg"):
        problem = render_svg(dots, args.output)
        if problem:
            print(f"clifkit cfg: error: {problem}", file=sys.stderr)
            return 1
    else:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            print(f"clifkit cfg: error: cannot write {args.output}: {e.strerror or e}", file=sys.stderr)
            return 1
    return status


def _add_cat(sub) -> None:
    p = sub.add_parser("cat", help="print CLIF files in canonical form")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=_cmd_cat)


def _add_verify(sub) -> None:
    p = sub.add_parser("verify", help="check CLIF files for well-formedness")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-v", "--verbose", action="store_true", help="say 'ok' for each file that verifies")
    from .arguments import add_dialect_options

    add_dialect_options(p, run_calls=False)
    p.set_defaults(func=_cmd_verify)


def _add_cfg(sub) -> None:
    p = sub.add_parser("cfg", help="print the control-flow graph of CLIF functions as Graphviz DOT")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--function", metavar="NAME", help="only the function NAME (as written: %%f)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write to FILE instead of standard output; a FILE ending in .svg is rendered with "
                   "Graphviz's dot (one SVG per function, numbered after the first, when there are several)")
    p.set_defaults(func=_cmd_cfg)
