"""Control flow of generated functions: the block graph (`plan_edges`), dominators (which
values a block may use), loop counters and the terminators with their block arguments.

Termination comes from here: ordinary branches only go forward, and the only backward
branches are loop back edges taken while a counter block parameter is nonzero, passing it
decremented. A mixin of `FuncGen` (gen_function.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..ir.function import BlockCall, JumpTableData
from ..ir.types import I32


@dataclass
class Edge:
    kind: str  # return, jump, brif, br_table, back, trap
    targets: list[int] = field(default_factory=list)  # block indices; for back: [back target, forward target]


def dominators(n: int, succs: list[list[int]]) -> list[set[int]]:
    """Dominator sets of blocks 0..n-1 (block 0 is the entry; all blocks reachable)."""
    preds: list[list[int]] = [[] for _ in range(n)]
    for b, ss in enumerate(succs):
        for s in ss:
            if b not in preds[s]:
                preds[s].append(b)
    everything = set(range(n))
    dom = [{0}] + [set(everything) for _ in range(n - 1)]
    changed = True
    while changed:
        changed = False
        for b in range(1, n):
            new = set(everything)
            for p in preds[b]:
                new &= dom[p]
            new |= {b}
            if new != dom[b]:
                dom[b] = new
                changed = True
    return dom


class ControlFlow:
    """Block graph and terminators of `FuncGen`."""

    def plan_edges(self, n: int, loops: bool) -> list[Edge]:
        rng, feats = self.rng, self.p.features
        edges: list[Edge] = []
        has_pred = [False] * n
        has_pred[0] = True
        for b in range(n):
            fwd = list(range(b + 1, n))
            if not fwd:
                edges.append(Edge("trap" if "traps" in feats and rng.random() < 0.02 else "return"))
                continue
            must = None if has_pred[b + 1] else b + 1
            kinds = ["jump", "brif", "brif"]
            if "br_table" in feats:
                kinds.append("br_table")
            if loops:
                kinds += ["back", "back"]
            if must is None:
                kinds.append("return")
                if "traps" in feats and rng.random() < 0.04:
                    kinds.append("trap")
            kind = rng.choice(kinds)
            if kind == "jump":
                targets = [must if must is not None else rng.choice(fwd)]
            elif kind == "brif":
                targets = [rng.choice(fwd), rng.choice(fwd)]
                if must is not None and must not in targets:
                    targets[rng.randrange(2)] = must
            elif kind == "br_table":
                targets = [rng.choice(fwd) for _ in range(rng.randint(1, 5))]
                if must is not None and must not in targets:
                    targets[rng.randrange(len(targets))] = must
            elif kind == "back":
                targets = [rng.randint(1, b) if b >= 1 else 0, must if must is not None else rng.choice(fwd)]
                if targets[0] == 0:
                    # The entry block cannot be a branch target; loop on the next block instead... or
                    # make this a plain forward branch.
                    kind, targets = "jump", [targets[1]]
            else:
                targets = []
            for t in targets:
                if t > b:
                    has_pred[t] = True
            edges.append(Edge(kind, targets))
        return edges

    def loop_counter(self) -> int:
        rng = self.rng
        limit = self.p.cfg.loop_limit
        if rng.random() < 0.4 and self.pool.get(I32):
            # Run-dependent, still small: arg & 3.
            return self.emit1("band_imm", I32, [self.pick(I32)], I32, imm=3)
        return self.iconst(I32, rng.randint(0, limit), pool=True)

    def block_args(self, target: int, counter: Optional[int]) -> list[int]:
        blk = self.func.blocks[target]
        value_types = self.value_types
        args = []
        for i, v in enumerate(blk.params):
            if i == 0 and counter is not None:
                args.append(counter)
            else:
                args.append(self.value_of(value_types[v]))
        return args

    def terminate(self, edge: Edge, counter_params: dict[int, int]) -> None:
        rng = self.rng
        ctr = self.counter if counter_params else None
        kind = edge.kind
        if kind == "return":
            if self.p.tail and rng.random() < 0.7 and self.gen_tail_call():
                return
            rets = [self.value_of(r.type) for r in self.func.signature.returns]
            rets = [self.canon(v) for v in self.fold_unused(rets)]
            self.emit("return", None, rets, [])
        elif kind == "trap":
            self.emit("trap", None, [], [], code=self.trap_code())
        elif kind == "jump":
            t = edge.targets[0]
            self.emit("jump", None, [], [], dests=[BlockCall(t, self.block_args(t, ctr))])
        elif kind == "brif":
            c = self.scalar_int()
            a, b = edge.targets
            self.emit("brif", self.type_of(c), [c], [],
                      dests=[BlockCall(a, self.block_args(a, ctr)), BlockCall(b, self.block_args(b, ctr))])
        elif kind == "br_table":
            ts = edge.targets
            if rng.random() < 0.6:
                raw = self.value_of(I32)
                idx = self.emit1("band_imm", I32, [raw], I32, pool=False, imm=rng.choice((1, 3, 7)))
            else:
                idx = self.value_of(I32)
            calls = [BlockCall(t, self.block_args(t, ctr)) for t in ts]
            default, table = calls[-1], calls[:-1]
            self.emit("br_table", None, [idx], [], jump_table=JumpTableData(default, table))
        elif kind == "back":
            back, fwd = edge.targets
            dec = self.emit1("iadd_imm", I32, [ctr], I32, pool=False, imm=-1)
            back_args = self.block_args(back, dec)
            fwd_args = self.block_args(fwd, ctr)
            self.emit("brif", I32, [ctr], [], dests=[BlockCall(back, back_args), BlockCall(fwd, fwd_args)])
        else:
            raise AssertionError(kind)
