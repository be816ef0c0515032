"""Value ranges of integers, so that the compiler can leave out masks that cannot change a value.

``iadd``, ``isub``, ``iadd_imm``, ``imul``, ``imul_imm`` and ``ishl_imm`` wrap modulo 2^bits,
so their templates mask (``((v0 + 0x1) & 0xffffffff)``). Where the ranges of
the operands prove that the exact result already lies in [0, 2^bits), the
mask is the identity: `unmasked` says so, and the compiler tells the opcode's
builder (``OpContext.no_wrap``), which then leaves the mask out of its template.

The ranges (inclusive unsigned intervals of scalar integers) come from one
pass over the reachable blocks in reverse postorder (`analyse`, on the
postorder and the edges into each block that the compiler's control-flow walk
recorded):

- a value's range from its definition (a constant; a sum, difference or
  product that cannot wrap; ``band_imm``, ``ushr_imm``, ``uextend``,
  comparisons, ``select``), given its operands' ranges in its block;
- what a ``brif`` on an unsigned comparison (or on a signed one whose
  operands are both below 2^(bits-1)) says on each of its edges: a block
  entered by one edge only knows everything its predecessor knows, plus that;
- which of two values is the larger, after an unsigned comparison of them,
  for ``isub``;
- a block parameter's range: the union, over the edges into the block, of its
  argument's range there. A back edge (its source not yet visited) gives
  what the edge's own comparison says, within the type's whole range, which
  is what holds of any value that passes it. So in
  ``v7 = iadd_imm v2, 1; v8 = icmp ult v7, v0; brif v8, block1(v7, ...)`` the
  loop counter v2 stays below 2^bits - 1, and ``v2 + 1`` needs no mask.

Every fact holds of the SSA value wherever the block that knows it runs, so
an unmasked template is exact: the range is an over-approximation of the
values that can occur.

A function with no loop and no recursion is not analysed (the compiler keeps
every mask and does not import this module): its code runs once per call,
where the analysis costs more than the masks it would save.
"""

from __future__ import annotations


TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

Range = tuple[int, int]

_UNSIGNED = {"ult": "<", "ule": "<=", "ugt": ">", "uge": ">=", "eq": "==", "ne": "!="}
_SIGNED = {"slt": "<", "sle": "<=", "sgt": ">", "sge": ">="}
_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
_SWAP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _meet(a: Range, b: Range) -> Range:
    return max(a[0], b[0]), min(a[1], b[1])


def _refine(x: Range, op: str, y: Range) -> Range:
    """What ``x op y`` being true says of x."""
    lo, hi = x
    if op == "<":
        hi = min(hi, y[1] - 1)
    elif op == "<=":
        hi = min(hi, y[1])
    elif op == ">":
        lo = max(lo, y[0] + 1)
    elif op == ">=":
        lo = max(lo, y[0])
    elif op == "==":
        lo, hi = max(lo, y[0]), min(hi, y[1])
    elif op == "!=" and y[0] == y[1]:
        lo += lo == y[0]
        hi -= hi == y[0]
    return lo, hi


class Ranges:
    """The ranges of one function's integer values: `of(value, block)`."""

    def __init__(self, fc):
        self.fc = fc
        self.func = fc.func
        self.defs: dict[int, Range] = {}  # from the definition: holds wherever the value is
        self.known: dict[int, dict[int, Range]] = {}  # per block: facts of its entry (params, branches)
        self.ge: dict[int, set[tuple[int, int]]] = {}  # per block: pairs (x, y) known to have x >= y
        self.producer: dict[int, tuple[int, object]] = {}  # result -> (block, instruction) defining it
        self.conditions: dict[tuple[int, int, int, bool], object] = {}  # `condition` per edge

    # -- queries ------------------------------------------------------------------------
    def full(self, v: int) -> Optional[Range]:
        t = self.func.value_types.get(v)
        if t is None or t.is_vector or not t.name.startswith("i"):
            return None
        return 0, (1 << t.bits) - 1

    def of(self, v: int, block: int) -> Optional[Range]:
        v = self.func.resolve(v)
        r = self.full(v)
        if r is None:
            return None
        d = self.defs.get(v)
        if d is not None:
            r = _meet(r, d)
        k = self.known.get(block, {}).get(v)
        if k is not None:
            r = _meet(r, k)
        return r

    # -- analysis -----------------------------------------------------------------------
    def analyse(self, order: list[int], preds: dict[int, list[tuple[int, int, int]]]) -> None:
        """`order`: reachable blocks in reverse postorder; `preds[b]`: (block, terminator index,
        edge index) of each edge into b."""
        visited: set[int] = set()
        blocks = self.fc.blocks
        for b in order:
            for inst in blocks[b].insts:
                if inst.results:
                    self.producer.setdefault(inst.results[0], (b, inst))
        for b in order:
            incoming = preds.get(b, [])
            known: dict[int, Range] = {}
            ge: set[tuple[int, int]] = set()
            if len(incoming) == 1 and b != self.fc.entry and incoming[0][0] != b and incoming[0][0] in visited:
                p, j, e = incoming[0]
                known.update(self.known[p])
                ge |= self.ge[p] | self.edge_order(p, j, e)
            params = [self.func.resolve(x) for x in blocks[b].params]
            if b != self.fc.entry:
                for i, x in enumerate(params):
                    joined: Optional[Range] = None
                    for p, j, e in incoming:
                        r = self.edge_arg(p, j, e, i, p in visited)
                        if r is None:
                            joined = None
                            break
                        joined = r if joined is None else (min(joined[0], r[0]), max(joined[1], r[1]))
                    if joined is not None:
                        known[x] = _meet(known.get(x, joined), joined)
            if len(incoming) == 1 and incoming[0][0] in visited and b != self.fc.entry:
                p, j, e = incoming[0]
                for v, r in self.edge_facts(p, j, e, True).items():
                    known[v] = _meet(known.get(v, r), r)
            self.known[b] = known
            self.ge[b] = ge
            for inst in blocks[b].insts:
                if len(inst.results) == 1:
                    r = self.define(inst, b)
                    if r is not None:
                        self.defs[inst.results[0]] = r
            visited.add(b)

    def edge_arg(self, p: int, j: int, e: int, i: int, visited: bool) -> Optional[Range]:
        inst = self.fc.blocks[p].insts[j]
        bc = inst.branch_targets()[e]
        a = bc.args[i]
        if not isinstance(a, int):
            return None
        a = self.func.resolve(a)
        r = self.of(a, p) if visited else self.full(a)
        if r is None:
            return None
        fact = self.edge_facts(p, j, e, visited).get(a)
        return _meet(r, fact) if fact is not None else r

    def defined_in(self, v: int, block: int):
        """The instruction of `block` whose first result is `v`, or None."""
        found = self.producer.get(v)
        return found[1] if found is not None and found[0] == block else None

    def condition(self, p: int, j: int, e: int, visited: bool):
        """What holds once edge `e` of instruction `j` of block `p` is taken, when it is a brif
        edge: (c, None, None, None, truth) for a condition c that is no comparison, (x, y, rx, ry,
        op) for a comparison ``x op y`` (y None for an immediate, then ry is its value), or None.
        Cached: once `p` is visited, the ranges it reads no longer change."""
        key = (p, j, e, visited)
        if key not in self.conditions:
            self.conditions[key] = self._condition(p, j, e, visited)
        return self.conditions[key]

    def _condition(self, p: int, j: int, e: int, visited: bool):
        inst = self.fc.blocks[p].insts[j]
        if inst.opcode.name != "brif" or len(inst.dests) != 2 or inst.dests[0].block == inst.dests[1].block:
            return None
        c = self.func.resolve(inst.args[0])
        cmp = self.defined_in(c, p)
        if cmp is None or cmp.opcode.name not in ("icmp", "icmp_imm"):
            return c, None, None, None, "!=" if e == 0 else "=="
        rng = (lambda v: self.of(v, p)) if visited else self.full
        x = self.func.resolve(cmp.args[0])
        t = self.func.value_types.get(x)
        if t is None or t.is_vector:
            return None
        if cmp.opcode.name == "icmp":
            y: Optional[int] = self.func.resolve(cmp.args[1])
            rx, ry = rng(x), rng(y)
        else:
            from .integer_ops import imm_at

            y, k = None, imm_at(cmp.imm, t.bits)
            rx, ry = rng(x), (k, k)
        if rx is None or ry is None:
            return None
        op = _UNSIGNED.get(cmp.cond)
        half = 1 << (t.bits - 1)
        if op is None and cmp.cond in _SIGNED and rx[1] < half and ry[1] < half:
            op = _SIGNED[cmp.cond]  # both non-negative: the signed order is the unsigned one
        if op is None:
            return None
        return x, y, rx, ry, op if e == 0 else _NEGATE[op]

    def edge_facts(self, p: int, j: int, e: int, visited: bool) -> dict[int, Range]:
        """The ranges taking edge `e` of instruction `j` of block `p` gives values (`condition`)."""
        cond = self.condition(p, j, e, visited)
        if cond is None:
            return {}
        x, y, rx, ry, op = cond
        if rx is None:  # a plain condition: zero or not
            r = self.of(x, p) if visited else self.full(x)
            return {} if r is None else {x: _refine(r, op, (0, 0))}
        out = {x: _refine(rx, op, ry)}
        if y is not None and y != x:
            out[y] = _refine(ry, _SWAP[op], rx)
        return out

    def edge_order(self, p: int, j: int, e: int) -> set[tuple[int, int]]:
        """Pairs (x, y) with x >= y once edge `e` of instruction `j` of block `p` is taken (a
        comparison of two values, see `condition`)."""
        cond = self.condition(p, j, e, True)
        if cond is None or cond[1] is None:
            return set()
        x, y, _, _, op = cond
        if op in (">", ">="):
            return {(x, y)}
        if op in ("<", "<="):
            return {(y, x)}
        return {(x, y), (y, x)} if op == "==" else set()

    def define(self, inst, b: int) -> Optional[Range]:
        """The range of `inst`'s result from its operands' ranges in block `b`, or None (its type's)."""
        op = inst.opcode.name
        if op not in _DEFINED:
            return None
        full = self.full(inst.results[0])
        if full is None:
            return None
        top = full[1]
        args = [self.of(a, b) for a in inst.args]
        if any(a is None for a in args) and op not in ("uextend", "select"):
            return None
        if op == "icmp" or op == "icmp_imm":
            return 0, 1
        if op in ("ushr_imm", "ishl_imm"):
            from .bit_ops import shift_amount

            k = shift_amount(inst.imm, top.bit_length())
            if op == "ushr_imm":
                return args[0][0] >> k, args[0][1] >> k
            lo, hi = args[0][0] << k, args[0][1] << k
        elif op == "band_imm":
            from .bit_ops import logic_imm

            return 0, min(logic_imm(inst.imm, top.bit_length()), args[0][1])
        elif op in ("iconst", "iadd_imm", "imul_imm"):
            from .integer_ops import imm_at

            c = imm_at(inst.imm, top.bit_length())
            if op == "iconst":
                return c, c
            if op == "imul_imm":
                lo, hi = args[0][0] * c, args[0][1] * c
            else:
                k = c - (top + 1) if c >> (top.bit_length() - 1) else c
                lo, hi = args[0][0] + k, args[0][1] + k
        elif op == "iadd":
            lo, hi = args[0][0] + args[1][0], args[0][1] + args[1][1]
        elif op == "isub":
            lo, hi = args[0][0] - args[1][1], args[0][1] - args[1][0]
            x, y = (self.func.resolve(a) for a in inst.args)
            if lo < 0 and (x == y or (x, y) in self.ge.get(b, ())):
                lo = 0  # x >= y where this runs (a comparison's edge), whatever their ranges
        elif op == "imul":
            lo, hi = args[0][0] * args[1][0], args[0][1] * args[1][1]
        elif op == "band":
            return 0, min(args[0][1], args[1][1])
        elif op == "uextend":
            return args[0]
        elif op == "select":
            if args[1] is None or args[2] is None:
                return None
            return min(args[1][0], args[2][0]), max(args[1][1], args[2][1])
        else:
            return None
        return (lo, hi) if 0 <= lo and hi <= top else None

    # -- use ------------------------------------------------------------------------------
    def unmasked(self, inst, block: int) -> bool:
        """Whether `inst` wraps modulo 2^bits (`NO_WRAP`) but its result provably cannot: its
        range from the analysis of its block (`block`) lies in [0, 2^bits)."""
        return inst.opcode.name in NO_WRAP and len(inst.results) == 1 and inst.results[0] in self.defs


# The opcodes whose builders mask (`integer_ops.wrapped`) and whose range `define` bounds.
NO_WRAP = frozenset({"iadd", "isub", "imul", "iadd_imm", "imul_imm", "ishl_imm"})
# The opcodes `define` knows.
_DEFINED = NO_WRAP | {"icmp", "icmp_imm", "iconst", "band_imm", "ushr_imm", "band", "uextend", "select"}


def analyse(fc) -> Ranges:
    """The ranges of `fc`'s function, from its control-flow analysis (`fc.postorder`: the
    reachable blocks in postorder; `fc.preds[b]`: (block, branch index, edge index) of each edge
    into b, edge index -1 for a self tail call)."""
    ranges = Ranges(fc)
    ranges.analyse(fc.postorder[::-1], fc.preds)
    return ranges
