"""Figures for Cranelift's run tests at one revision of a wasmtime checkout.

    python scripts/filetests.py WASMTIME [--rev REV] [--dir DIR] [-j N] [--engine E] [--json OUT]

WASMTIME is a wasmtime git checkout (or bare git directory, such as the one
`fetch github:bytecodealliance/wasmtime` leaves); REV is any revision git
knows there (default HEAD), DIR the run-test directory inside it (default
cranelift/filetests/filetests/runtests). The files are exported with
`git archive` into a temporary directory, run with
`clifkit test --interpret-all` (every engine and backend this machine runs),
and summarised: files read, files that pass entirely, run lines passed,
failed and skipped per engine and backend, and why lines were skipped.
Nothing is fetched: the checkout must already hold REV.

With --path DIR instead of a checkout, the files of a plain directory are run.

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
import tempfile

DEFAULT_DIR = "cranelift/filetests/filetests/runtests"


def export(repo: str, rev: str, directory: str, into: str) -> str:
    """`directory` at `rev` of the git repository `repo`, written under `into`; its path there."""
    git_dir = repo if os.path.isfile(os.path.join(repo, "HEAD")) else os.path.join(repo, ".git")
    archive = subprocess.run(["git", "--git-dir", git_dir, "archive", "--format=tar", rev, directory],
                             capture_output=True, check=False)  # fmt: skip
    if archive.returncode != 0:
        sys.exit(f"filetests: git archive {rev} {directory} failed: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(into)
    return os.path.join(into, directory)


def run(path: str, jobs: int, engine: str, report: str) -> None:
    argv = [sys.executable, "-m", "clifkit", "test", "--interpret-all", "-j", str(jobs), "--json", report]
    if engine:
        argv += ["--engine", engine]
    subprocess.run(argv + [path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def summarise(data: dict) -> list[str]:
    files = data["files"]
    statuses = collections.Counter(f["status"] for f in files)
    lines: collections.Counter = collections.Counter()
    reasons: collections.Counter = collections.Counter()
    for f in files:
        for r in f["runs"]:
            where = r["engine"] if r["target"] is None else f"{r['engine']} {r['target'].split()[0]}"
            lines[(where, r["status"])] += 1
            if r["status"] == "skipped":
                reasons[(where, (r["message"] or "")[:110])] += 1
    read = len(files) - statuses.get("error", 0)
    out = [f"files: {len(files)}, read {read}, pass entirely {statuses.get('passed', 0)}"
           + "".join(f", {k} {v}" for k, v in sorted(statuses.items()) if k != "passed")]  # fmt: skip
    out.append("run lines (passed / failed / skipped):")
    for where in sorted({w for w, _ in lines}):
        counts = [lines[(where, s)] for s in ("passed", "failed", "skipped")]
        other = sum(v for (w, s), v in lines.items() if w == where and s not in ("passed", "failed", "skipped"))
        out.append(f"  {where:<20} {counts[0]:>7} / {counts[1] + other:>4} / {counts[2]:>6}")
    total = [sum(v for (_, s), v in lines.items() if s == k) for k in ("passed", "failed", "skipped")]
    out.append(f"  {'all':<20} {total[0]:>7} / {total[1]:>4} / {total[2]:>6}")
    if reasons:
        out.append("skipped, by reason:")
        out += [f"  {n:>6}  {where}: {why}" for (where, why), n in reasons.most_common()]
    broken = [f for f in files if f["status"] not in ("passed", "skipped")]
    if broken:
        out.append("files that do not pass:")
        out += [f"  {os.path.basename(f['path'])}: {f['status']}: {(f.get('message') or '')[:120]}" for f in broken]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("wasmtime", nargs="?", help="a wasmtime git checkout or git directory")
    ap.add_argument("--rev", default="HEAD", help="the revision (default HEAD)")
    ap.add_argument("--dir", default=DEFAULT_DIR, help=f"the run-test directory (default {DEFAULT_DIR})")
    ap.add_argument("--path", help="run the files of this plain directory instead")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--engine", choices=("interpreter", "native"), help="one engine only")
    ap.add_argument("--json", help="keep clifkit's JSON report here")
    args = ap.parse_args(argv)
    if not args.path and not args.wasmtime:
        ap.error("give a wasmtime checkout or --path DIR")
    with tempfile.TemporaryDirectory(prefix="clifkit-filetests-") as tmp:
        path = args.path or export(args.wasmtime, args.rev, args.dir, tmp)
        report = args.json or os.path.join(tmp, "report.json")
        run(path, args.jobs, args.engine, report)
        with open(report) as f:
            data = json.load(f)
    where = args.path or f"{args.wasmtime} {args.rev}:{args.dir}"
    print(f"{where}")
    print("\n".join(summarise(data)))
    return 0 if all(f["status"] in ("passed", "skipped") for f in data["files"]) else 1


if __name__ == "__main__":
    sys.exit(main())
