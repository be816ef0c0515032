"""Interpreter benchmarks: CLIF programs next to the same programs hand-written in Python.

Run from the repository root::

    python -m benchmarks                 # all, median of 5 runs each
    python -m benchmarks -n 9 int_loop   # one benchmark, median of 9
    python -m benchmarks --quick         # fewer iterations (a smoke test)
    python -m benchmarks --native        # also compiled with Cranelift, run natively
    python -m benchmarks --differential  # the float fast path vs softfloat, 10^6 pairs per op and type
    python -m benchmarks --markdown      # also print the README's speed table
    python -m benchmarks startup         # only the startup figure (benchmarks/startup.py)
    python -m benchmarks.tree_cpu clifkit test -j 2 --interpret-all CORPUS
                                         # wall and CPU of a whole process tree, QEMU workers included
    python -m benchmarks.schedule CORPUS  # which -j process ran what when, its CPU, the idle ends

Times are this process's CPU time (``--clock cpu``, the default: on a
shared machine, time spent waiting for a core would inflate whichever side
it fell on; ``--clock wall`` for wall-clock time). Each line reports the CLIF
instructions one run executes, the median time of
the interpreter and of plain Python, CLIF instructions per second, and the
ratio interpreter / Python (1.0 = as fast as the hand-written code), beside
its goal (`Benchmark.goal`: the targets of issue 16, or for the other rows the
ratio measured before that work, which they must not exceed). With
``--native``, each program is also compiled with Cranelift and called in the
native worker (`benchmarks/native.py`): the median time of the call alone,
CLIF instructions per second natively (the interpreter's count over the native
time), and how many times faster than the interpreter that is.

A full run (or ``startup`` among the names) ends with the startup figure:
the imports of `clifkit test` on one small file without clifkit's bytecode
cache, beside its goal of 150 ms (`benchmarks/startup.py`). ``--markdown``
prints the rows as the README's speed table, which is pasted from it.

``python -m benchmarks.bigfile`` times `clifkit test` on one large generated
file of small functions (wall time, time to the first line, peak memory).

``--differential [PAIRS]`` runs no benchmark: it checks the interpreter's
float fast path (`clifkit.interpreter.float_repr`) against the exact
`softfloat` functions, bit for bit, over PAIRS operand pairs (10^6 by
default) for each float operation and type, and exits 1 on any difference.
"""
