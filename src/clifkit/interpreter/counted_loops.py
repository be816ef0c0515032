"""Counted loops: a pure one-block loop paid for by the fuel slice in one check, not every iteration.

A loop header that branches to itself, whose instructions are all pure
(`compiler.PURE`) and whose back edge is taken while ``i + 1 < n`` (``v7 =
iadd_imm v2, 1; v8 = icmp ult v7, v0; brif v8, block1(v7, ...), ...``, with
``i`` the parameter the back edge passes ``i + 1`` to, ``n`` defined outside
the loop or a constant, and `ranges` proving that ``i + 1`` cannot wrap) runs
as many iterations as the fuel slice pays for without checking fuel::

    while True:                       # the header's loop, as for any header
        _f -= 6                       # this iteration, checked as always
        if _f < 0: _f = _nofuel(_m, '%f', _f)
        _lc = v2                      # i at the first iteration of the chunk
        _ll = v2 + 1 + _f // 6        # i + 1 may reach this before the slice runs out
        if _ll > v0: _ll = v0
        while True:
            ...                       # the block, with no fuel check
            if v2 < _ll:              # i + 1 < min(n, what the slice pays for)
                continue
            break
        _f -= 6 * (v2 - _lc - 1)      # the chunk's other iterations
        if v2 < v0:                   # the loop's own condition: the slice ran out first
            continue                  # (the next iteration checks: a new slice, or FuelExhausted)
        ...                           # the exit edge

The iterations of a chunk satisfy the loop's own condition (``i + 1 < _ll <= n``),
so they are the loop's; each costs the block's instruction count, and nothing
they do can be observed before the check that follows (they are pure), so fuel
runs out at the same iteration, with the same count, as with a check each time.
"""

from __future__ import annotations

from typing import Optional

from .integer_ops import imm_at


def counted(fc, h: int) -> Optional[tuple]:
    """(the counter parameter, i + 1's value, n's expression) when header `h` is a counted loop."""
    func, block = fc.func, fc.blocks[h]
    if h not in fc.headers or fc.interp.tracer is not None or fc.ranges is None:
        return None  # (no ranges: the function is compiled short, `Interpreter(compact=True)`)
    insts = block.insts
    last = insts[-1]
    if last.opcode.name != "brif" or last.dests[0].block != h or last.dests[1].block == h:
        return None
    if not fc.deferrable(block):  # pure instructions only
        return None
    defined = {r for inst in insts for r in inst.results} | {func.resolve(p) for p in block.params}
    cond = func.resolve(last.args[0])
    cmp = fc.ranges.defined_in(cond, h)
    if cmp is None or cmp.opcode.name not in ("icmp", "icmp_imm") or cmp.cond != "ult":
        return None
    nxt = func.resolve(cmp.args[0])
    inc = fc.ranges.defined_in(nxt, h)
    if inc is None or inc.opcode.name != "iadd_imm" or not fc.ranges.unmasked(inc, h):
        return None
    t = func.value_types.get(nxt)
    if t is None or t.is_vector or imm_at(inc.imm, t.bits) != 1:
        return None
    counter = func.resolve(inc.args[0])
    params = [func.resolve(p) for p in block.params]
    back = [func.resolve(a) if isinstance(a, int) else a for a in last.dests[0].args]
    if counter not in params or back[params.index(counter)] != nxt or counter in fc.floats:
        return None
    if cmp.opcode.name == "icmp":
        bound = func.resolve(cmp.args[1])
        if bound in defined or bound in fc.floats:
            return None
        bound_text = fc.coalesced.get(bound, f"v{bound}")  # (a copy or a constant: what it reads)
    else:
        bound_text = hex(imm_at(cmp.imm, t.bits))
    return counter, nxt, bound_text


def emit(fc, h: int, loop: tuple, out) -> None:
    """The arm of header `h` (at indentation 1 in its ``while True:``), as the module docstring shows."""
    counter, nxt, bound = loop
    block = fc.blocks[h]
    fc.last_access = None
    count, fc.pending = len(block.insts) + fc.pending, 0
    fc.charge(count, 1, out)
    out.append((1, fc.fuel_check()))
    i = f"v{counter}"
    out.append((1, f"_lc = {i}"))
    out.append((1, f"_ll = {i} + 1 + _f // {count}"))
    out.append((1, f"if _ll > {bound}: _ll = {bound}"))
    out.append((1, "while True:"))
    start = len(out)
    fc.block = h
    for inst in block.insts[:-1]:
        fc.emit_inst(inst, 2, out)
    last = block.insts[-1]
    # The loop's condition, when a statement read only by the brif: evaluated after the chunk, not
    # in each iteration (its operands, i + 1 and n, keep their values; the brif then tests it).
    cond = fc.func.resolve(last.args[0])
    moved = None
    if fc.uses.get(cond) == 1:
        at = next((k for k in range(start, len(out)) if out[k][0] == 2 and out[k][1].startswith(f"v{cond} = ")), None)
        if at is not None:
            moved = out.pop(at)[1]
    edge = last.dests[0]
    # The back edge is written twice (here and by the terminator below): its folded values once.
    for a in edge.args:
        if isinstance(a, int) and fc.func.resolve(a) in fc.folded:
            v = fc.func.resolve(a)
            out.append((2, f"v{v} = {fc.folded.pop(v)}"))
    n = fc.coalesced.get(nxt, f"v{nxt}")
    out.append((2, f"if {n} < _ll:"))
    params = [f"v{p}" for p in block.params]
    fc.assign(params, [fc.fval(a) if p in fc.floats else fc.val(a) for p, a in zip(block.params, edge.args)], 3, out)
    out.append((3, "continue"))
    out.append((2, "break"))
    # After the chunk, i + 1 is what the last iteration made (in the counter, when coalesced into it).
    out.append((1, f"_f -= {count} * ({n} - _lc - 1)"))
    if moved is not None:
        out.append((1, moved))
    fc.emit_terminator(last, 1, out, h, True)

