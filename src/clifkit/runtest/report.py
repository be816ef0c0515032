"""The machine-readable report of `clifkit test --json FILE`.

Shape (stable fields; more may be added)::

    {"summary": {"passed": N, "failed": N, "skipped": N, "errors": N},
     "files": [{"path": "...", "status": "passed|failed|skipped|error", "message": "...",
                "runs": [{"line": N, "function": "%f", "engine": "interpreter", "target": null,
                          "status": "passed|failed|skipped|error", "message": "..."}]}]}

``summary.failed`` counts errors too (as the summary line does); ``summary.errors``
says how many of them were errors.
"""

from __future__ import annotations

import json
from typing import Sequence

from .results import ERROR, FAILED, PASSED, SKIPPED, FileResult

FORMAT_VERSION = 1


def build_report(results: Sequence[FileResult], options=None) -> dict:
    total = {PASSED: 0, FAILED: 0, SKIPPED: 0, ERROR: 0}
    for fr in results:
        for k, v in fr.counts().items():
            total[k] += v
    report = {
        "version": FORMAT_VERSION,
        "summary": {
            "passed": total[PASSED],
            "failed": total[FAILED] + total[ERROR],
            "skipped": total[SKIPPED],
            "errors": total[ERROR],
            "files": len(results),
        },
        "files": [fr.to_json() for fr in results],
    }
    if options is not None:
        report["options"] = {
            "fuel": options.fuel,
            "interpret_all": options.interpret_all,
        }
    return report


def write_report(path: str, results: Sequence[FileResult], options=None) -> None:
    data = build_report(results, options)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
