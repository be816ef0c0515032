"""tests/data/heap_shapes.clif on every engine: the interpreter, native x86_64 compared with the
interpreter, and aarch64 and s390x under emulation (big-endian on s390x)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import needs_emulation, needs_native

SHAPES = (Path(__file__).parent / "data" / "heap_shapes.clif").read_text()
RUN_LINES = SHAPES.count("\n; run:")


def _check(runs: list[dict], out: str) -> None:
    assert len(runs) == RUN_LINES and all(r["status"] == "passed" for r in runs), out


def test_heap_shapes_on_the_interpreter(clifkit_test):
    status, out, runs = clifkit_test("test interpret\n" + SHAPES)
    assert status == 0, out
    _check(runs, out)


@needs_native
def test_heap_shapes_natively_agree_with_the_interpreter(clifkit_test):
    status, out, runs = clifkit_test("test run\ntarget x86_64\n" + SHAPES, "--compare")
    assert status == 0, out
    native = [r for r in runs if r["engine"] == "native"]
    _check(native, out)


@pytest.mark.parametrize("arch", [pytest.param(a, marks=needs_emulation(a)) for a in ("aarch64", "s390x")])
def test_heap_shapes_emulated(arch, clifkit_test):
    status, out, runs = clifkit_test(f"test run\ntarget {arch}\n" + SHAPES, "--engine", "native")
    assert status == 0, out
    _check(runs, out)
    assert {r["target"] for r in runs} == {arch}
