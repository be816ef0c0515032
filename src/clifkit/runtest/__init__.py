"""Run tests: the ``; run:`` and ``; print:`` lines of CLIF files, and `clifkit test`.

- `values`: literals at a CLIF type (ints, floats in CLIF notation, vectors), printing, bitwise comparison;
- `directives`: run/print directive syntax and binding to a function's signature, with located errors;
- `environment`: what ``; heap:`` directives ask for (heaps in a vmctx struct);
- `engines`: what executes a run line (the interpreter; others plug into `ENGINES`);
- `runner`: discovery, engine choice per file, running, output, exit status (`main`);
- `results`, `report`: per-line and per-file results, the ``--json`` report.
"""
