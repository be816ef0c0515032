"""Run tests: the ``; run:`` and ``; print:`` lines of CLIF files, and `clifkit test`.

- `values`: literals at a CLIF type (ints, floats in CLIF notation, vectors), printing, bitwise comparison;
- `directives`: run/print directive syntax and binding to a function's signature, with located errors;
- `environment`: what ``; heap:`` directives ask for (heaps in a vmctx struct), and the one slot writer;
- `reservations`: how much address space each region reserves, from every declaration a run line reaches;
- `inferred`: the directives heap and table declarations imply, for tests that write none;
- `interface`, `registry`, `engines`: what executes a run line (the engine interface; `ENGINES`, every engine by
  module path; the interpreter engine);
- `plans`: which engines and targets run a file's run lines, each line grouped by function and bound;
- `execute`: running bound run lines on an engine session, judging each outcome (`compare`: ``--compare``);
- `runner`: discovery, the per-file driver, output, summary and exit status (`main`);
- `results`, `report`: per-line and per-file results, the ``--json`` report.
"""
