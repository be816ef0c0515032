"""Fixtures the test files share: writing a .clif file and running the `clifkit` command on it."""

from __future__ import annotations

import json

import pytest

from clifkit.cli import main


@pytest.fixture(params=["compact", "fast"])
def both_code_shapes(request, monkeypatch):
    """Run a test twice: with straight-line code compiled as it is (each memory access one call of
    the checked path, `OpContext.once`) and with the fast paths that code in loops gets."""
    from clifkit.interpreter import compiler

    monkeypatch.setattr(compiler, "COMPACT_ONCE", request.param == "compact")


@pytest.fixture
def write_clif(tmp_path):
    """write_clif(text, name="t.clif"): the path of `text` written to a file in `tmp_path`."""

    def write(text: str, name: str = "t.clif"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def cli_run(capsys):
    """cli_run(*argv): run the `clifkit` command; (exit status, stdout, stderr)."""

    def run(*argv):
        status = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


@pytest.fixture
def clifkit_test(write_clif, tmp_path, capsys):
    """clifkit_test(text, *argv, name="t.clif"): `clifkit test -j1 --json R ARGV FILE` on `text`
    written to FILE; (exit status, stdout and stderr, the runs of the JSON report)."""

    def run(text: str, *argv: str, name: str = "t.clif"):
        path, report = write_clif(text, name), tmp_path / "r.json"
        status = main(["test", "-j1", "--json", str(report), *map(str, argv), str(path)])
        captured = capsys.readouterr()
        runs = [r for f in json.loads(report.read_text())["files"] for r in f["runs"]]
        return status, captured.out + captured.err, runs

    return run
