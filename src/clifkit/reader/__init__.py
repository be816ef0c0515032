"""The CLIF reader: text → `TestFile`, every problem reported as a located `ClifError`.

Modules: `lexer` (tokens and comments), `numbers` (number literals, shared with
the printer), `cursor` (token cursor, errors, comment claiming), `instructions`
(one operand parser per instruction format, type inference) and `parser` (the
file, functions, preambles and blocks).
"""

from .parser import parse_file, parse_text

__all__ = ["parse_file", "parse_text"]
