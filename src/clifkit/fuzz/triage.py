"""Bucketing a campaign's disagreements, and its report.

A disagreement's signature is (backend, kind, opcodes of the reduced reproducer): kind is
``value``, ``trap:A/B`` (the reference's and the backend's trap codes, ``-`` for none),
``crash`` or ``compile-error``; the opcodes are those left after `--reduce` (without it they
are unknown, and a bucket is a backend and a kind). Each bucket keeps its first reproducer (the
lowest program index: the same whatever ``-j``) and counts the rest.

In the report, ``engines.reference`` is the reference engine's name, ``references`` its columns
(one per byte order of the targets: ``interpreter (little-endian)``, ``interpreter
(big-endian)``) and ``backends`` the columns judged against them (each target, or the engine
under test).

The report (``--report``, default ``OUT/report.json``) has a stable schema, version 1::

    {"schema": "clifkit-fuzz-report/1", "seed": S, "interrupted": BOOL, "programs": N, "disagreements": N,
     "errors": N, "seconds": F,
     "engines": {"reference": "interpreter", "references": [...], "backends": [...]},
     "features": "...", "opt_levels": [...], "stats": {"run_lines": N, "outcomes": {...}, "rules": {...},
     "skipped": N, "features_hit": {...}, "opt_levels": {...}, "stage_cpu_seconds": {...}},
     "buckets": [{"signature": {"backend": B, "kind": K, "opcodes": [...] | null},
                  "count": N, "programs": [I, ...], "first": {"program": I, "generator_seed": G, "opt_level": L | null,
                  "call": "...", "detail": "...", "reproducer": PATH, "reduced": PATH | null}}]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

SCHEMA = "clifkit-fuzz-report/1"
KEEP_PROGRAMS = 100  # program indices listed per bucket


@dataclass
class Bucket:
    backend: str
    kind: str
    opcodes: Optional[tuple]
    count: int = 0
    programs: list = field(default_factory=list)
    first: dict = field(default_factory=dict)

    def signature(self) -> str:
        ops = " ".join(self.opcodes) if self.opcodes is not None else "(not reduced)"
        return f"{self.backend} {self.kind} {ops}"


class Triage:
    def __init__(self, seed: int, labels: list[str], refs: Optional[dict] = None):
        """`labels` names the columns, `refs` maps each backend column to its reference column
        (default: the first column is the reference, the rest backends)."""
        self.seed = seed
        self.labels = labels
        backends = sorted(refs) if refs is not None else range(1, len(labels))
        self.backends = [labels[b] for b in backends]
        self.references = [label for i, label in enumerate(labels) if i not in backends]
        self.buckets: dict[tuple, Bucket] = {}

    def add(self, index: int, generator_seed: int, d: dict, path: str, reduced_path: Optional[str]) -> None:
        opcodes = tuple(d["opcodes"]) if d.get("opcodes") is not None else None
        key = (d["backend"], d["kind"], opcodes)
        b = self.buckets.get(key)
        if b is None:
            b = self.buckets[key] = Bucket(d["backend"], d["kind"], opcodes)
            b.first = {"program": index, "generator_seed": generator_seed, "opt_level": d.get("opt_level"),
                       "call": d["call"], "detail": d["detail"], "reproducer": path, "reduced": reduced_path}
        b.count += 1
        if len(b.programs) < KEEP_PROGRAMS:
            b.programs.append(index)

    def ordered(self) -> list[Bucket]:
        return sorted(self.buckets.values(), key=lambda b: (-b.count, b.first["program"]))

    def summary_lines(self) -> list[str]:
        if not self.buckets:
            return []
        lines = [f"buckets ({len(self.buckets)}):"]
        for b in self.ordered():
            where = b.first["reduced"] or b.first["reproducer"]
            lines.append(f"  {b.count:5d}  {b.signature()}  (first: program {b.first['program']}, {where})")
        return lines

    def json(self, stats, cfg, opts, interrupted: bool = False) -> str:
        from .features import features_text

        doc = {
            "schema": SCHEMA,
            "seed": self.seed,
            "interrupted": interrupted,  # stopped early (Ctrl-C, a lost scheduler): counts of the programs that finished
            "programs": stats.programs,
            "disagreements": stats.disagreements,
            "errors": stats.errors,
            "seconds": round(stats.seconds, 3),
            "engines": {"reference": cfg.engine_a, "references": self.references, "backends": self.backends},
            "features": features_text(cfg.features),
            "opt_levels": list(cfg.opt_levels),
            "stats": {
                "run_lines": stats.lines,
                "outcomes": dict(sorted(stats.outcomes.items())),
                "rules": dict(sorted(stats.rules.items())),
                "skipped": stats.skipped,
                "features_hit": dict(sorted(stats.features.items())),
                "opt_levels": dict(sorted(stats.opt_levels.items())),
                "stage_cpu_seconds": {k: round(v, 3) for k, v in sorted(stats.stages.items())},
            },
            "buckets": [
                {"signature": {"backend": b.backend, "kind": b.kind,
                               "opcodes": list(b.opcodes) if b.opcodes is not None else None},
                 "count": b.count, "programs": b.programs, "first": b.first}
                for b in self.ordered()
            ],
        }
        return json.dumps(doc, indent=1) + "\n"
