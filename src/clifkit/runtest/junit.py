"""The JUnit XML report of `clifkit test --junit-xml FILE`, for CI dashboards.

One ``<testsuite>`` per file (named by its path), one ``<testcase>`` per item
(a run line on one engine and target), named as everywhere else
(`select`): ``classname`` is the file's path, ``name`` the item name, e.g.
``%add(1, 2)[interpreter]``. A failed item has a ``<failure>``, an error (a
malformed line, an engine bug) an ``<error>``, a skipped one ``<skipped>``;
a run line stopped at its time limit a ``<failure type="timeout">``;
their ``message`` is the short message and their text the full report, as
`clifkit test` prints it. ``; print:`` lines put their output in
``<system-out>``. The form is the one Jenkins, GitLab and most dashboards read
(the ``xunit2`` flavour pytest writes)::

    <testsuites name="clifkit" tests= failures= errors= skipped= time=>
      <testsuite name="path" tests= failures= errors= skipped= time= timestamp= hostname=>
        <testcase classname="path" name="%f(1)[interpreter]" file="path" line="7" time="0.000">
          <failure message="expected 4, got 3" type="failed">path:7: %f(1): expected 4, got 3</failure>
"""

from __future__ import annotations

import datetime
import re
import socket
import xml.etree.ElementTree as ET
from typing import Sequence

from .results import ERROR, FAILED, PASSED, SKIPPED, TIMEOUT, FileResult, RunResult

# Characters XML 1.0 cannot hold at all; they are replaced by a visible escape.
_INVALID_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text or "")


def _case_name(r: RunResult) -> str:
    if r.name:
        return r.name
    label = r.call or (f"{r.function}()" if r.function else f"line {r.line}")
    engine = f"{r.engine} {r.target}" if r.target else r.engine
    return f"{label}[{engine}]"


def _counts(runs: Sequence[RunResult]) -> dict[str, int]:
    """Counts as JUnit has them: passed, failed (timeouts included), skipped, error."""
    c = {PASSED: 0, FAILED: 0, SKIPPED: 0, ERROR: 0}
    for r in runs:
        status = FAILED if r.status == TIMEOUT else r.status
        c[status] = c.get(status, 0) + 1
    return c


def build_junit(results: Sequence[FileResult], name: str = "clifkit") -> ET.Element:
    total = {PASSED: 0, FAILED: 0, SKIPPED: 0, ERROR: 0}
    seconds = 0.0
    root = ET.Element("testsuites", name=name)
    stamp = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    host = socket.gethostname()
    for fr in results:
        c = _counts(fr.runs)
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
        seconds += fr.seconds
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_clean(fr.path),
            tests=str(len(fr.runs)),
            failures=str(c[FAILED]),
            errors=str(c[ERROR]),
            skipped=str(c[SKIPPED]),
            time=f"{fr.seconds:.3f}",
            timestamp=stamp,
            hostname=_clean(host),
        )
        each = fr.seconds / len(fr.runs) if fr.runs else 0.0
        for r in fr.runs:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=_clean(fr.path),
                name=_clean(_case_name(r)),
                file=_clean(fr.path),
                line=str(r.line),
                time=f"{each:.3f}",
            )
            text = r.report or r.message
            if r.status in (FAILED, TIMEOUT):
                el = ET.SubElement(case, "failure", message=_clean(r.message), type=r.status)
                el.text = _clean(text)
            elif r.status == ERROR:
                el = ET.SubElement(case, "error", message=_clean(r.message), type="error")
                el.text = _clean(text)
            elif r.status == SKIPPED:
                ET.SubElement(case, "skipped", message=_clean(r.message), type="skipped")
            elif r.kind == "print" and r.report:
                out = ET.SubElement(case, "system-out")
                out.text = _clean(r.report)
        if not fr.runs and fr.status == ERROR:
            # A file-level problem with no run line to pin it on.
            case = ET.SubElement(suite, "testcase", classname=_clean(fr.path), name="<file>", file=_clean(fr.path), time="0.000")
            el = ET.SubElement(case, "error", message=_clean(fr.message), type="error")
            el.text = _clean(fr.message)
            suite.set("tests", "1")
            suite.set("errors", "1")
            total[ERROR] += 1
    root.set("tests", str(sum(total.values())))
    root.set("failures", str(total[FAILED]))
    root.set("errors", str(total[ERROR]))
    root.set("skipped", str(total[SKIPPED]))
    root.set("time", f"{seconds:.3f}")
    return root


def write_junit(path: str, results: Sequence[FileResult], name: str = "clifkit") -> None:
    root = build_junit(results, name)
    ET.indent(root, space=" ")
    tree = ET.ElementTree(root)
    with open(path, "wb") as f:
        tree.write(f, encoding="utf-8", xml_declaration=True)
        f.write(b"\n")
