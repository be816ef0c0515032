"""`clifkit test -j N` running a file's emulated plans on the process that owns their architecture
(`clifkit.runtest.lanes`): which process gets which plans, and that results do not depend on it."""

from __future__ import annotations

import dataclasses
import json

import pytest

from clifkit.cli import main as clifkit_main
from clifkit.native.host import host_arch
from clifkit.runtest import lanes, parallel
from clifkit.runtest.lanes import Part, assign, file_lanes, merge_parts, target_lane
from clifkit.runtest.plans import Options, Plan
from clifkit.runtest.report import file_json
from clifkit.runtest.results import ERROR, file_problem
from clifkit.runtest.runner import run_file

FOREIGN = [a for a in ("aarch64", "s390x", "riscv64") if a != host_arch()][:2]
# A flag of FOREIGN[0] (a target line variant): one its backend knows, as the reader checks.
FLAGS = {"aarch64": "has_lse", "s390x": "has_mie2", "riscv64": "has_zbb"}
FLAG = FLAGS[FOREIGN[0]]


@pytest.fixture
def no_emulation(tmp_path, monkeypatch):
    """No emulation set up: the emulated plans are skipped, quickly, saying why (the merge of their
    notes and skipped engines is checked all the same)."""
    monkeypatch.setenv("CLIFKIT_CACHE", str(tmp_path / "cache"))


def test_the_lane_of_a_target_is_its_foreign_architecture():
    assert target_lane(None) is None and target_lane("") is None
    assert target_lane(host_arch()) is None
    assert target_lane("s390x has_mie2") == ("s390x" if host_arch() != "s390x" else None)
    assert target_lane("arm64-apple-darwin") == ("aarch64" if host_arch() != "aarch64" else None)
    part = Part(frozenset({FOREIGN[0]}), primary=False)
    assert part.takes(Plan("native", "run", target=f"{FOREIGN[0]} {FLAG}"))
    assert not part.takes(Plan("native", "run", target=host_arch()))
    assert not part.takes(Plan("interpreter", "run"))
    primary = dataclasses.replace(part, primary=True)
    assert not primary.takes(Plan("native", "run", target=FOREIGN[0]))
    assert primary.takes(Plan("native", "run", target=FOREIGN[1]))  # a lane nobody owns
    assert primary.takes(Plan("interpreter", "interpret"))


def test_file_lanes_read_target_lines(tmp_path):
    p = tmp_path / "a.clif"
    p.write_text(f"test run\ntarget {host_arch()}\ntarget {FOREIGN[0]}\n  target {FOREIGN[1]} {FLAGS[FOREIGN[1]]}\n"
                 f"; target {host_arch()}-nope\n")
    assert file_lanes(str(p)) == frozenset(FOREIGN)
    assert file_lanes(str(tmp_path / "missing.clif")) == frozenset()


def test_a_file_run_a_segment_at_a_time_is_not_split(tmp_path, monkeypatch):
    monkeypatch.setattr("clifkit.runtest.segments.SEGMENT_FUNCTIONS", 2)
    body = "".join(f"function %f{i}() -> i32 {{\nblock0:\n    v0 = iconst.i32 {i}\n    return v0\n}}\n"
                   f"; run: %f{i}() == {i}\n" for i in range(5))
    p = tmp_path / "big.clif"
    p.write_text(f"test run\ntarget {FOREIGN[0]}\n\n" + body)
    assert file_lanes(str(p)) == frozenset()


def _assign(files: dict, jobs: int = 2, usable=lambda lane: True):
    """assign() over files given as name -> (size, lanes)."""
    tasks = [(i, name, None) for i, name in enumerate(files)]
    return assign(tasks, jobs, lambda path: files[path][0], lambda path: frozenset(files[path][1]), usable)


def test_each_lane_runs_on_one_process():
    files = {"both1": (900, {"aarch64", "s390x"}), "both2": (800, {"aarch64", "s390x"}),
             "both3": (700, {"aarch64", "s390x"}), "arm": (300, {"aarch64"}), "z": (200, {"s390x"}),
             "interp": (100, set())}
    pinned, free, parts = _assign(files)
    # the lanes go to the processes in turn (sorted): aarch64 to 0, s390x to 1
    for k, lane in ((0, "aarch64"), (1, "s390x")):
        for task in pinned[k]:
            offer = task[3]
            assert offer is None or (offer.lanes == {lane} and offer.every == {"aarch64", "s390x"})
    assert [t[1] for t in free] == ["interp"] and parts[list(files).index("interp")] == 1
    # a file with both lanes is offered to both processes, in two parts; a file of one lane goes
    # whole to its owner
    for i, name in enumerate(files):
        mine = [t[3] for q in pinned for t in q if t[0] == i]
        if name.startswith("both"):
            assert parts[i] == 2 and all(isinstance(o, lanes.Offer) for o in mine) and len(mine) == 2
        elif name in ("arm", "z"):
            assert parts[i] == 1 and mine == [None] and (name == "arm") == any(t[0] == i for t in pinned[0])
    # biggest first on each process
    for q in pinned:
        sizes = [files[t[1]][0] for t in q]
        assert sizes == sorted(sizes, reverse=True)


def test_the_first_process_to_take_a_split_file_runs_its_primary_part():
    """Which part of a split file is the primary is settled as it is handed out: the process that
    reaches the file first (being ahead) takes the larger part, the other its lane alone; whichever
    it is, the parts cover the file's plans once."""
    files = {"both1": (900, {"aarch64", "s390x"}), "both2": (800, {"aarch64", "s390x"}), "z": (5, {"s390x"})}
    pinned, free, parts = _assign(files)
    claimed: set = set()
    # process 1 is ahead: it takes both1 first, then both2; process 0 comes to them later
    got = {(k, t[1]): lanes.claim(t, claimed)[3] for k, t in [(1, pinned[1][0]), (1, pinned[1][1]), (0, pinned[0][0]),
                                                              (0, pinned[0][1])]}
    assert got[1, "both1"] == Part(frozenset({"aarch64"}), True) and got[0, "both1"] == Part(frozenset({"aarch64"}), False)
    assert got[1, "both2"].primary and not got[0, "both2"].primary
    claimed = set()
    assert lanes.claim(pinned[0][1], claimed)[3] == Part(frozenset({"s390x"}), True)  # process 0 first this time
    assert lanes.claim(pinned[1][1], claimed)[3] == Part(frozenset({"s390x"}), False)
    assert lanes.claim(pinned[1][2], claimed) == pinned[1][2]  # a whole file stays whole


def test_lanes_that_cannot_run_here_are_nobodys():
    files = {"both": (10, {"aarch64", "s390x"}), "arm": (5, {"aarch64"})}
    pinned, free, parts = _assign(files, usable=lambda lane: lane == "s390x")
    assert pinned[0] == [(0, "both", None, None)] and pinned[1] == [] and [t[1] for t in free] == ["arm"]
    pinned, free, parts = _assign(files, jobs=3)  # more processes than lanes: the third takes what is free
    assert pinned[2] == [] and parts == {0: 2, 1: 1}


def test_whether_a_lane_can_run_is_asked_once_per_lane():
    """(Asking means looking at the emulation's files: once per lane, not once per file naming it.)"""
    asked = []
    files = {f"f{n}": (n, {"aarch64", "s390x"} if n % 2 else {"s390x"}) for n in range(1, 9)}
    _assign(files, usable=lambda lane: asked.append(lane) or True)
    assert sorted(asked) == ["aarch64", "s390x"]


def test_a_single_process_or_no_lanes_splits_nothing():
    files = {"both": (10, {"aarch64", "s390x"}), "none": (5, set())}
    pinned, free, parts = _assign(files, jobs=1)
    assert [t[3] for t in pinned[0]] == [None] and parts == {0: 1, 1: 1}


FILE = f"""test interpret
test run
set opt_level=speed
target {host_arch()}
target {FOREIGN[0]}
target {FOREIGN[1]}
target {FOREIGN[0]} {FLAG}

function %add(i32, i32) -> i32 {{
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}}
; run: %add(1, 2) == 3
; run: %add(1, 2) == 4
; run: %add(-1, 1) == 0

function %div(i32, i32) -> i32 {{
block0(v0: i32, v1: i32):
    v2 = sdiv v0, v1
    return v2
}}
; run: %div(7, 2) == 3
; run: %div(1, 0) == 0
"""

UNPARSED = f"test run\ntarget {FOREIGN[0]}\ntarget {FOREIGN[1]}\n\nfunction %f() -> i32 {{\nblock0:\n    v0 = bogus\n}}\n; run: %f() == 1\n"
UNVERIFIED = (f"test run\ntarget {host_arch()}\ntarget {FOREIGN[0]}\ntarget {FOREIGN[1]}\n\n"
              "function %f() -> i32 {\nblock0:\n    v0 = iconst.i64 1\n    return v0\n}\n; run: %f() == 1\n")


def _as_json(fr) -> dict:
    return dict(file_json(fr), seconds=None, notes=fr.notes, engine_skips=list(fr.engine_skips.items()),
                deselected=fr.deselected)


@pytest.mark.parametrize("text", [FILE, UNPARSED, UNVERIFIED], ids=["runs", "unparsed", "unverified"])
@pytest.mark.parametrize("keyword", [None, "add"])
def test_parts_merge_to_the_whole_file(text, keyword, tmp_path, no_emulation):
    path = tmp_path / "t.clif"
    path.write_text(text)
    options = Options(interpret_all=True, keyword=keyword)
    whole = _as_json(run_file(str(path), options))
    a, b = FOREIGN
    for split in ([Part(frozenset({a}), True), Part(frozenset({a}), False)],
                  [Part(frozenset({a, b}), True), Part(frozenset({a}), False), Part(frozenset({b}), False)],
                  [Part(frozenset({b}), False), Part(frozenset({b}), True)]):
        parts = [(part, run_file(str(path), options, part)) for part in split]
        assert _as_json(merge_parts(parts)) == whole
    if text is FILE:
        assert {r["target"] for r in whole["runs"]} == {None, host_arch(), a, b, f"{a} {FLAG}"}
        assert whole["status"] == "failed" and len(whole["runs"]) == (3 if keyword else 5) * 5


def test_a_part_whose_process_died_makes_the_file_an_error(tmp_path, no_emulation):
    path = tmp_path / "t.clif"
    path.write_text(FILE)
    options = Options(interpret_all=True)
    primary = Part(frozenset({FOREIGN[0]}), True)
    dead = file_problem(str(path), "internal error: the process running this file died")
    merged = merge_parts([(primary, run_file(str(path), options, primary)), (Part(primary.lanes, False), dead)])
    assert merged.status == ERROR and "died" in merged.message
    assert not any(r.target == FOREIGN[0] for r in merged.runs)
    assert merged.runs[-1].message == dead.runs[0].message


def test_results_do_not_depend_on_how_the_files_are_split(tmp_path, monkeypatch, no_emulation, capsys):
    """The whole run with -j 1, with -j 2 (files split by lane: the lanes taken as usable, their
    plans then skipped in whichever process runs them) and -j 3: the same reports and output."""
    for name, text in (("a.clif", FILE), ("b.clif", UNPARSED), ("c.clif", UNVERIFIED),
                       ("d.clif", FILE.replace("test run\n", "")), ("e.clif", FILE.replace("%add(1, 2) == 4", "%add(1, 2) == 3"))):
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(parallel, "_usable", lambda lane: True)
    seen = []
    real = lanes.assign

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        seen.append(out[2])
        return out

    monkeypatch.setattr(parallel, "assign", spy)
    reports = {}
    for jobs in ("1", "2", "3"):
        report = tmp_path / f"r{jobs}.json"
        clifkit_main(["test", "-j", jobs, "--interpret-all", "--json", str(report), str(tmp_path)])
        out = capsys.readouterr().out
        files = json.loads(report.read_text())["files"]
        for f in files:
            f["seconds"] = None
        reports[jobs] = (files, out)
    assert reports["2"] == reports["1"] and reports["3"] == reports["1"]
    assert seen and all(max(parts.values()) == 2 for parts in seen)  # split, into two parts at most


def test_a_part_that_kills_its_process_loses_only_its_file(tmp_path, monkeypatch, no_emulation, capsys):
    """The process running a's second part dies: a.clif is an error saying so, with the runs of its
    first part; b.clif, whose parts ran on the same processes, is whole."""
    import os

    from clifkit.runtest import runner

    (tmp_path / "a.clif").write_text(FILE)
    (tmp_path / "b.clif").write_text(FILE)
    monkeypatch.setattr(parallel, "_usable", lambda lane: True)
    real_run_one = runner.run_one

    def dies(path, problem, options, part=None):
        if path.endswith("a.clif") and part is not None and not part.primary:
            os._exit(3)  # as a crash in native code would
        return real_run_one(path, problem, options, part)

    monkeypatch.setattr(runner, "run_one", dies)
    report = tmp_path / "r.json"
    clifkit_main(["test", "-j", "2", "--interpret-all", "--json", str(report), str(tmp_path)])
    capsys.readouterr()
    a, b = json.loads(report.read_text())["files"]
    assert a["status"] == "error" and "died" in a["message"]
    x, y = FOREIGN  # the primary's plans ran: all but those of one lane
    assert {r["target"] for r in a["runs"]} in ({None, host_arch(), x, f"{x} {FLAG}"}, {None, host_arch(), y})
    assert b["status"] == "failed" and len(b["runs"]) == 25


def test_the_pools_are_closed_side_by_side():
    """At the end of a run every process is told to close at once (each closes its engines' workers
    as it exits), not one after the other: each shutdown waits until all have begun."""
    import threading

    begun = threading.Barrier(3, timeout=10)
    ended = []

    class Pool:
        def shutdown(self, wait=True):
            assert wait
            begun.wait()  # breaks (and the test fails) unless all three are closing together
            ended.append(self)

    pools = [Pool(), Pool(), Pool()]
    parallel.shut_down(pools)
    assert sorted(map(id, ended)) == sorted(map(id, pools)) and not begun.broken
