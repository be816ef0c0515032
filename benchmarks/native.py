"""The benchmark programs compiled with Cranelift and run natively (``python -m benchmarks --native``).

Each program is sent to the native worker (`clifkit.native.worker`), compiled
once, and called `runs` times in one forked child; the worker times each call
alone (the trampoline call, not the round trip), and the median is reported.
"""

from __future__ import annotations

import statistics
from typing import Optional


class NativeBench:
    """One native worker for all the benchmarks of a run."""

    def __init__(self) -> None:
        from clifkit.native.engine import WorkerClient, missing_requirements

        self.missing: Optional[str] = missing_requirements()
        self.client = None if self.missing else WorkerClient()

    def run(self, bench, args: list, runs: int, expected) -> Optional[tuple[float, bool]]:
        """(the median seconds of one native call of `bench`, whether it returned `expected`), or
        None. A program may legitimately differ natively: CLIF leaves stack slots uninitialised (the
        interpreter zeroes them), so a program that reads one before writing it reads garbage."""
        if self.client is None:
            return None
        reply = self.client.request({"op": "load", "path": f"<{bench.name}>", "source": bench.clif, "triple": None,
                                     "flags": {"opt_level": "speed"}}, timeout=300)
        if not reply.get("ok") or reply["functions"].get(bench.entry):
            why = reply.get("message") or reply["functions"].get(bench.entry)
            raise SystemExit(f"{bench.name}: cannot compile natively: {why}")
        request = {"function": bench.entry, "args": list(args), "env": None, "line": 0, "time": True}
        # One warm-up call, then the timed ones, all in one child.
        reply = self.client.request({"op": "run", "requests": [request] * (runs + 1), "timeout": 600.0}, timeout=3600)
        results = reply["results"]
        for r in results:
            if r.get("kind") != "returned":
                raise SystemExit(f"{bench.name}: natively {r}, expected {expected}")
        return statistics.median(r["seconds"] for r in results[1:]), results[-1]["values"] == expected

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
