"""scripts/filetests.py --all on a small git repository shaped like wasmtime's: every test kind
is read, printed and verified, run lines and test verifier / test cat files are counted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "filetests.py"

FILES = {
    "runtests/add.clif": """test interpret
function %add(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}
; run: %add(1, 2) == 3
; run: %add(1, 2) == 4
""",
    "verifier/bad.clif": """test verifier
function %f() {
block0:
    jump block0 ; error: invalid reference to entry block block0
}
""",
    "parser/cat.clif": """test cat
function %g() {
    fn0 = %h(i32)
block0:
    return
}
; check: sig0 = (i32) fast
; check: fn0 = %h sig0
""",
    "isa/x64/compiled.clif": """test compile
target x86_64
function %c(i64) -> i64 {
block0(v0 ! range(64, 0, 1): i64):
    return v0
}
""",
    "isa/x64/wrong.clif": """test compile
function %w() {
block0:
    v0 = iconst.i32 1
}
""",
    "parser/unread.clif": """test cat
function %u() {
block0:
    v0 = frobnicate
}
""",
}


@pytest.fixture
def repo(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    root = tmp_path / "wasmtime"
    for rel, text in FILES.items():
        path = root / "cranelift" / "filetests" / "filetests" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}
    for argv in (["init", "-q"], ["add", "."], ["commit", "-qm", "x"]):
        subprocess.run(["git", *argv], cwd=root, check=True, env=env)
    return root


def test_every_test_kind_is_counted(repo):
    done = subprocess.run([sys.executable, str(SCRIPT), str(repo), "--rev", "HEAD", "--all", "-j", "1"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    out = done.stdout
    assert done.returncode == 1, done.stderr  # a run line fails, a file does not read
    assert ("every file: 6, read 5, print to a fixpoint 5, "
            "verify 2 of the 3 read files Cranelift verifies") in out
    assert "test kinds (files): cat 2, compile 2, interpret 1, verifier 1" in out
    assert "interpreter" in out and "      1 /    1 /      0" in out
    assert "test verifier: 1 of 1 files with results pass entirely (results passed / failed: 1 / 0)" in out
    assert "test cat: 1 of 1 files with results pass entirely (results passed / failed: 1 / 0)" in out
    assert "test cat files that do not read: 1" in out
    assert "wrong.clif:4:10: error: block0 does not end with a terminator" in out


SHUFFLE_2022 = """test interpret
function %zeros(i8x16, i8x16) -> i8x16 {
block0(v0: i8x16, v1: i8x16):
    v2 = shuffle v0, v1, [0 32 1 255 0 0 0 0 0 0 0 0 0 0 0 16]
    return v2
}
; run: %zeros([1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16], [17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32]) == [1 0 2 0 1 1 1 1 1 1 1 1 1 1 1 17]
"""


def _dated_repo(root: Path, date: str) -> Path:
    path = root / "cranelift" / "filetests" / "filetests" / "runtests" / "shuffle.clif"
    path.parent.mkdir(parents=True)
    path.write_text(SHUFFLE_2022)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin", "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    for argv in (["init", "-q"], ["add", "."], ["commit", "-qm", "x"]):
        subprocess.run(["git", *argv], cwd=root, check=True, env=env)
    return root


@pytest.mark.parametrize("date, extra, rules, passes", [
    ("2022-12-14T12:00:00+00:00", [], "--cranelift 2022 (committed 2022-12-14, before 2023-01-01)", True),
    ("2023-01-02T12:00:00+00:00", [], "--cranelift current (committed 2023-01-02)", False),
    ("2022-12-14T12:00:00+00:00", ["--cranelift", "current"], "--cranelift current (chosen with --cranelift)", False),
    ("2024-05-01T12:00:00+00:00", ["--cranelift", "2022"], "--cranelift 2022 (chosen with --cranelift)", True),
])
def test_the_era_follows_the_commit_date(tmp_path, date, extra, rules, passes):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    repo = _dated_repo(tmp_path / "wasmtime", date)
    done = subprocess.run([sys.executable, str(SCRIPT), str(repo), "--rev", "HEAD", "-j", "1", *extra],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert f"rules: {rules}" in done.stdout, done.stdout + done.stderr
    assert (done.returncode == 0) == passes, done.stdout
    assert ("pass entirely 1" in done.stdout) == passes
