"""The CLIF reader: text → `TestFile` (see `parser.py` for the grammar, `lexer.py` for tokens).

Every problem is reported as a located `ClifError`, never as a Python exception.
"""

from .parser import parse_file, parse_text

__all__ = ["parse_file", "parse_text"]
