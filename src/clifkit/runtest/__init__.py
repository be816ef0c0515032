"""Run tests: the ``; run:`` and ``; print:`` lines of CLIF files, and `clifkit test`.

Run lines are read by `clifkit.reader.directives`, their values are `clifkit.ir.values`, the heaps and
tables they ask for are `clifkit.environment`, and engines implement `clifkit.engine`.

- `inferred`: the directives heap and table declarations imply, for tests that write none;
- `engines`: `ENGINES`, every engine by module path, loaded on first look;
- `plans`: which engines and targets run a file's run lines, each line grouped by function and bound;
- `execute`: running bound run lines on an engine session, judging each outcome (`compare`: ``--compare``);
- `runner`: discovery, the per-file driver, output, summary and exit status (`main`);
- `results`, `report`: per-line and per-file results, the ``--json`` report.
"""
