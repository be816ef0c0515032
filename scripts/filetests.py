"""Figures for Cranelift's filetests at one revision of a wasmtime checkout.

    python scripts/filetests.py WASMTIME [--rev REV] [--all | --dir DIR] [-j N] [--engine E] [--json OUT]

WASMTIME is a wasmtime git checkout (or bare git directory, such as the one
`fetch github:bytecodealliance/wasmtime` leaves); REV is any revision git
knows there (default HEAD), DIR the run-test directory inside it (default
cranelift/filetests/filetests/runtests). The files are exported with
`git archive` into a temporary directory, run with
`clifkit test --interpret-all` (every engine and backend this machine runs),
and summarised: files read, files that pass entirely, run lines passed,
failed and skipped per engine and backend, and why lines were skipped.
Nothing is fetched: the checkout must already hold REV.

With --all, every `.clif` of cranelift/filetests/filetests is taken, whatever
its test kinds (`test compile`, `test optimize`, ... as well as run, verifier
and cat tests), and the summary adds, for every file: whether it reads,
whether its printing is a fixpoint (`clifkit cat` of the printed text prints
the same text), and, for the files Cranelift verifies before it tests them
(all but `test cat`, `test print-cfg` and `test verifier` ones, which skip its
verifier), whether clifkit's verifier accepts them; then the `test verifier`
and `test cat` files that pass entirely and their results.

With --path DIR instead of a checkout, the files of a plain directory are run.

The files are tested by the rules of Cranelift of their revision's era
(`clifkit test --cranelift`): `--cranelift 2022` for a revision whose commit
date (committer date, UTC) is before 2023-01-01, today's rules otherwise (and
for --path). `--cranelift ERA` chooses explicitly; the summary's first line
says which rules were used and why.

Example (the suite of December 2022, just before heaps left Cranelift):

    python scripts/filetests.py /work/.mirror/bytecodealliance+wasmtime/repo --rev c0b587ac5f^
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import subprocess
import sys
import tarfile
import re
import tempfile
from typing import Optional

DEFAULT_DIR = "cranelift/filetests/filetests/runtests"
ALL_DIR = "cranelift/filetests/filetests"
# The test kinds whose Cranelift runner does not verify the file first (`needs_verifier` false).
UNVERIFIED_KINDS = frozenset({"cat", "print-cfg", "verifier"})
_TEST_LINE = re.compile(r"^[ \t]*test[ \t]+([\w-]+)", re.MULTILINE)


def export(repo: str, rev: str, directory: str, into: str) -> str:
    """`directory` at `rev` of the git repository `repo`, written under `into`; its path there."""
    git_dir = _git_dir(repo)
    archive = subprocess.run(["git", "--git-dir", git_dir, "archive", "--format=tar", rev, directory],
                             capture_output=True, check=False)  # fmt: skip
    if archive.returncode != 0:
        sys.exit(f"filetests: git archive {rev} {directory} failed: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(into)
    return os.path.join(into, directory)


# Revisions committed before this are tested by the 2022 rules (`clifkit.dialect`).
DIALECT_2022_BEFORE = "2023-01-01"


def commit_date(repo: str, rev: str) -> str:
    """The committer date of `rev` in `repo`, UTC, as YYYY-MM-DD."""
    git_dir = _git_dir(repo)
    shown = subprocess.run(["git", "--git-dir", git_dir, "log", "-1", "--format=%ct", rev, "--"],
                           capture_output=True, text=True, check=False)  # fmt: skip
    if shown.returncode != 0 or not shown.stdout.strip():
        sys.exit(f"filetests: git log {rev} failed: {shown.stderr.strip()}")
    import datetime

    return datetime.datetime.fromtimestamp(int(shown.stdout.split()[0]), datetime.timezone.utc).date().isoformat()


def era_of(repo: Optional[str], rev: str, chosen: Optional[str]) -> tuple[str, str]:
    """The `--cranelift` dialect to test `rev` with, and why: `chosen` when given, else by its date."""
    if chosen is not None:
        return chosen, "chosen with --cranelift"
    if repo is None:
        return "current", "a plain directory: today's rules"
    date = commit_date(repo, rev)
    if date < DIALECT_2022_BEFORE:
        return "2022", f"committed {date}, before {DIALECT_2022_BEFORE}"
    return "current", f"committed {date}"


def _git_dir(repo: str) -> str:
    return repo if os.path.isfile(os.path.join(repo, "HEAD")) else os.path.join(repo, ".git")


def run(path: str, jobs: int, engine: str, report: str, cranelift: str = "current") -> None:
    argv = [sys.executable, "-m", "clifkit", "test", "--interpret-all", "-j", str(jobs), "--json", report,
            "--cranelift", cranelift]
    if engine:
        argv += ["--engine", engine]
    subprocess.run(argv + [path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def _clif_files(path: str) -> list[str]:
    return sorted(os.path.join(d, f) for d, _, names in os.walk(path) for f in names if f.endswith(".clif"))


def survey(path: str, cranelift: str = "current") -> list[dict]:
    """For each `.clif` under `path`: its test kinds, and whether it reads, prints to a fixpoint and
    verifies by the `cranelift` dialect's rules (None when Cranelift would not verify it), with the
    first problem found."""
    from clifkit.dialect import dialect
    from clifkit.diagnostics import ClifError
    from clifkit.printer import format_test_file
    from clifkit.reader import parse_text
    from clifkit.verifier import verify_test_file

    out = []
    for name in _clif_files(path):
        with open(name, encoding="utf-8") as f:
            text = f.read()
        kinds = sorted(set(_TEST_LINE.findall(text)))  # read from the text: known for unread files too
        rec: dict = {"path": os.path.relpath(name, path), "kinds": kinds, "read": False, "fixpoint": False,
                     "verifies": None, "problem": None}  # fmt: skip
        out.append(rec)
        try:
            tf = parse_text(text, name)
        except ClifError as e:
            rec["problem"] = e.first.format().splitlines()[0]
            continue
        rec["read"] = True
        printed = format_test_file(tf)
        try:
            rec["fixpoint"] = format_test_file(parse_text(printed, name)) == printed
        except ClifError as e:
            rec["problem"] = f"printed text does not read: {e.first.format().splitlines()[0]}"
        if not rec["fixpoint"]:
            rec["problem"] = rec["problem"] or "printing the printed text changes it"
        if set(rec["kinds"]) - UNVERIFIED_KINDS:
            errors = [d for d in verify_test_file(tf, text, dialect=dialect(cranelift)) if d.severity == "error"]
            rec["verifies"] = not errors
            if errors and rec["problem"] is None:
                rec["problem"] = errors[0].format().splitlines()[0]
    return out


def summarise_survey(records: list[dict]) -> list[str]:
    kinds = collections.Counter(k for r in records for k in r["kinds"])
    verified = [r for r in records if r["verifies"] is not None]
    out = [f"every file: {len(records)}, read {sum(r['read'] for r in records)}, "
           f"print to a fixpoint {sum(r['fixpoint'] for r in records)}, "
           f"verify {sum(bool(r['verifies']) for r in verified)} of the {len(verified)} read files Cranelift verifies",
           "test kinds (files): " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))]  # fmt: skip
    bad = [r for r in records if r["problem"]]
    if bad:
        out.append("files that do not read, print to a fixpoint or verify:")
        out += [f"  {r['problem'][:160]}" for r in bad]
    return out


def _static_summary(files: list[dict], kind: str) -> Optional[str]:
    """`test verifier` / `test cat` files passed and their results passed / failed."""
    mine = [(f, [r for r in f["runs"] if r.get("kind") == kind]) for f in files]
    mine = [(f, rs) for f, rs in mine if rs]
    if not mine:
        return None
    passed = sum(all(r["status"] == "passed" for r in rs) for _, rs in mine)
    results = collections.Counter(r["status"] == "passed" for _, rs in mine for r in rs)
    return (f"test {kind}: {passed} of {len(mine)} files with results pass entirely "
            f"(results passed / failed: {results[True]} / {results[False]})")


def summarise(data: dict, kinds_of: Optional[dict] = None) -> list[str]:
    """The run report's figures; `kinds_of` (file path -> its test kinds) adds the files of each
    static kind that do not read, as clifkit's report names no kind for them."""
    files = data["files"]
    statuses = collections.Counter(f["status"] for f in files)
    lines: collections.Counter = collections.Counter()
    reasons: collections.Counter = collections.Counter()
    for f in files:
        if f["status"] == "error":  # its one "run" is the reading error: counted as a file not read
            continue
        for r in f["runs"]:
            if r.get("kind", "run") != "run":
                continue
            where = r["engine"] if r["target"] is None else f"{r['engine']} {r['target'].split()[0]}"
            lines[(where, r["status"])] += 1
            if r["status"] == "skipped":
                reasons[(where, (r["message"] or "")[:110])] += 1
    read = len(files) - statuses.get("error", 0)
    # "error": the file does not read, or the verifier (or its heap and table directives) refuse it.
    out = [f"files: {len(files)}, read and verified {read}, pass entirely {statuses.get('passed', 0)}"
           + "".join(f", {k} {v}" for k, v in sorted(statuses.items()) if k != "passed")]  # fmt: skip
    out.append("run lines (passed / failed / skipped):")
    for where in sorted({w for w, _ in lines}):
        counts = [lines[(where, s)] for s in ("passed", "failed", "skipped")]
        other = sum(v for (w, s), v in lines.items() if w == where and s not in ("passed", "failed", "skipped"))
        out.append(f"  {where:<20} {counts[0]:>7} / {counts[1] + other:>4} / {counts[2]:>6}")
    total = [sum(v for (_, s), v in lines.items() if s == k) for k in ("passed", "skipped")]
    total.insert(1, sum(lines.values()) - sum(total))  # failed, errors and timeouts, as in each row
    out.append(f"  {'all':<20} {total[0]:>7} / {total[1]:>4} / {total[2]:>6}")
    for kind in ("verifier", "cat"):
        line = _static_summary(files, kind)
        if line is not None:
            out.append(line)
    if reasons:
        out.append("skipped, by reason:")
        out += [f"  {n:>6}  {where}: {why}" for (where, why), n in reasons.most_common()]
    broken = [f for f in files if f["status"] not in ("passed", "skipped")]
    if kinds_of is not None:
        for kind in ("verifier", "cat"):
            unread = [f for f in files if f["status"] == "error" and kind in kinds_of.get(f["path"], ())]
            if unread:
                out.append(f"test {kind} files that do not read: {len(unread)}")
    if broken:
        out.append("files that do not pass:")
        out += [f"  {os.path.basename(f['path'])}: {f['status']}: {(f.get('message') or '')[:120]}" for f in broken]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("wasmtime", nargs="?", help="a wasmtime git checkout or git directory")
    ap.add_argument("--rev", default="HEAD", help="the revision (default HEAD)")
    ap.add_argument("--dir", default=DEFAULT_DIR, help=f"the run-test directory (default {DEFAULT_DIR})")
    ap.add_argument("--all", action="store_true",
                    help=f"every test kind: the whole {ALL_DIR}, with reading, printing and verifying figures")
    ap.add_argument("--path", help="run the files of this plain directory instead")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--engine", choices=("interpreter", "native"), help="one engine only")
    ap.add_argument("--json", help="keep clifkit's JSON report here")
    ap.add_argument("--cranelift", choices=("current", "2022"),
                    help=f"the era's rules to test by (default: 2022 for a revision committed before "
                    f"{DIALECT_2022_BEFORE}, else current)")
    args = ap.parse_args(argv)
    if not args.path and not args.wasmtime:
        ap.error("give a wasmtime checkout or --path DIR")
    cranelift, why = era_of(None if args.path else args.wasmtime, args.rev, args.cranelift)
    directory = ALL_DIR if args.all else args.dir
    records = None
    with tempfile.TemporaryDirectory(prefix="clifkit-filetests-") as tmp:
        path = args.path or export(args.wasmtime, args.rev, directory, tmp)
        if args.all:
            records = survey(path, cranelift)
        report = args.json or os.path.join(tmp, "report.json")
        run(path, args.jobs, args.engine, report, cranelift)
        with open(report) as f:
            data = json.load(f)
        kinds_of = None
        if records is not None:  # the report names files as clifkit was given them: under `path`
            kinds_of = {os.path.join(path, r["path"]): r["kinds"] for r in records}
    where = args.path or f"{args.wasmtime} {args.rev}:{directory}"
    print(f"{where}")
    print(f"rules: --cranelift {cranelift} ({why})")
    if records is not None:
        print("\n".join(summarise_survey(records)))
    print("\n".join(summarise(data, kinds_of)))
    return 0 if all(f["status"] in ("passed", "skipped") for f in data["files"]) else 1


if __name__ == "__main__":
    sys.exit(main())
