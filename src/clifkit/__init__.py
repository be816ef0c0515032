"""clifkit: a toolkit for Cranelift IR (CLIF).

Read, print and verify CLIF; interpret it exactly; run its `; run:` tests with
heaps, tables and a vmctx environment.
"""

__version__ = "0.1.0"
