"""The CLIF reader: text → `TestFile`, every problem reported as a located `ClifError`.

Modules: `lexer` (tokens and comments), `cursor` (token cursor, errors, comment
claiming), `instructions` (one operand parser per instruction format, type
inference), `parser` (the file, functions, preambles and blocks), `directives`
(run and print lines; every directive read once, as the file is read) and
`fields` (the fields of ``; heap:`` and ``; table:`` directives). Numbers are
`ir.numbers`, shared with the printer.
"""

from .parser import ReadError, parse_file, parse_text

__all__ = ["ReadError", "parse_file", "parse_text"]
