"""The run-time environment a test asks for, shared by every engine.

Engine-neutral: the interpreter and the native engine import it; it imports
neither, nor the harness.

- `layout`: what ``; heap:`` and ``; table:`` directives ask for, laid out in a
  vmctx struct (`Environment`, `HeapRequest`), and the one slot writer;
- `reservations`: how much address space each region reserves, from every
  declaration a run line reaches;
- `guarantee`: which accesses outside a region the native engine is sure to trap;
- `byteorder`: the byte order of a target, and of a file's targets.

`GROW_FUNCTION` is defined here, not in `layout`, so that the verifier and the interpreter can
name it without importing the layout (a file without heaps or tables needs none of it).
"""

GROW_FUNCTION = "%heap_grow"  # the harness's host function that grows a heap
