"""Fetching what an emulated worker needs: Debian's packages of a CPython (apt, unpacked as dpkg
does) and the ``cranelift-py`` wheel (pip, its digest checked against PyPI's).

Kept apart from `emulation_setup`, which decides what to fetch and checks the result, because
these are the only places clifkit runs package managers: each runs with a private state and
changes nothing of the machine's own configuration."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from typing import Callable, Optional, Sequence

from .emulation import CRANELIFT_PY_VERSION, EmulatedArch


class SetupError(Exception):
    """Setting up emulation failed; the message says why and what to do."""


class CheckFailed(SetupError):
    """Everything was fetched and the emulated worker started, but it gave a wrong result: a
    fault of clifkit's (or of the emulator), not of the machine's network or packages."""


def run_tool(cmd: Sequence[str], what: str, cwd: Optional[str] = None, timeout: float = 900,
             env: Optional[dict] = None) -> str:
    """The output of `cmd`; SetupError (saying `what` failed, with its error lines) otherwise."""
    try:
        proc = subprocess.run(list(cmd), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=timeout, env=env)
    except FileNotFoundError:
        raise SetupError(f"{what}: {cmd[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise SetupError(f"{what}: `{' '.join(cmd[:3])} ...` took longer than {timeout:.0f} s") from None
    text = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0:
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith(("E:", "ERROR", "error"))] or lines[-3:]
        raise SetupError(f"{what} failed (exit status {proc.returncode}): {' | '.join(errors[-3:])}")
    return text


class Apt:
    """apt-get and apt-cache for another architecture, with a private state (package lists and
    caches under `directory`): the machine's sources and keys, nothing of its state changed."""

    def __init__(self, debian_arch: str, directory: str):
        self.arch = debian_arch
        self.dir = directory
        for sub in ("lists/partial", "cache/archives/partial"):
            os.makedirs(os.path.join(directory, sub), exist_ok=True)
        status_file = os.path.join(directory, "status")
        open(status_file, "a").close()
        self.options = [
            "-o", f"Dir::State::Lists={os.path.join(directory, 'lists')}",
            "-o", f"Dir::State::status={status_file}",
            "-o", f"Dir::Cache={os.path.join(directory, 'cache')}",
            "-o", f"APT::Architecture={debian_arch}",
            "-o", f"APT::Architectures={debian_arch}",
            "-o", "Acquire::Languages=none",
            "-o", "Debug::NoLocking=true",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # Downloads go to a directory the _apt user may not reach: do them as root, quietly.
            self.options += ["-o", "APT::Sandbox::User=root"]

    def update(self) -> None:
        text = run_tool(["apt-get", *self.options, "update"], f"apt-get update for {self.arch}")
        if "Failed to fetch" in text or "W: Some index files failed" in text:
            bad = [ln for ln in text.splitlines() if ln.startswith(("W:", "E:", "Err:"))]
            raise SetupError(f"apt could not read the {self.arch} package lists of this machine's sources: "
                             + " | ".join(bad[:3]))

    def version(self, package: str) -> Optional[str]:
        try:
            text = run_tool(["apt-cache", *self.options, "show", "--no-all-versions", package], "apt-cache show")
        except SetupError:
            return None
        for line in text.splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
        return None

    def download(self, packages: Sequence[str], into: str) -> list[str]:
        run_tool(["apt-get", *self.options, "download", *packages], f"apt-get download ({self.arch})", cwd=into)
        found = sorted(f for f in os.listdir(into) if f.endswith(".deb"))
        missing = [p for p in packages if not any(f.startswith(p + "_") for f in found)]
        if missing:
            raise SetupError(f"apt-get download left out {', '.join(missing)}")
        return [os.path.join(into, f) for f in found]


def extract_deb(deb: str, root: str) -> None:
    """``dpkg-deb -x``, or the same in Python (ar archive, data.tar.{xz,gz,bz2}) without dpkg."""
    if shutil.which("dpkg-deb"):
        run_tool(["dpkg-deb", "-x", deb, root], f"unpacking {os.path.basename(deb)}")
        return
    import io
    import tarfile

    with open(deb, "rb") as f:
        data = f.read()
    if not data.startswith(b"!<arch>\n"):
        raise SetupError(f"{os.path.basename(deb)} is not a Debian package")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
        if name.startswith("data.tar"):
            if name.endswith(".zst"):
                raise SetupError(f"{os.path.basename(deb)} is zstd-compressed: install dpkg (dpkg-deb) to unpack it")
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                if hasattr(tarfile, "tar_filter"):  # Python 3.12, and security releases before
                    tar.extractall(root, filter="tar")
                else:
                    tar.extractall(root)
            return
    raise SetupError(f"{os.path.basename(deb)} has no data archive")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]


def _published_digest(spec: EmulatedArch, python: str, scratch: str) -> Optional[tuple[str, str]]:
    """(wheel URL, sha256) PyPI publishes for cranelift-py's wheel, as pip's resolver reports it
    (``pip install --dry-run --report``: pip 22.2 and later), or None when this pip cannot say."""
    report = os.path.join(scratch, "pip-report.json")
    try:
        run_tool(_pip("install", "--dry-run", "--quiet", "--ignore-installed", "--no-deps", "--only-binary=:all:",
                      "--target", os.path.join(scratch, "pip-target"), "--platform", spec.wheel_platform,
                      "--python-version", python, "--report", report, f"cranelift-py=={CRANELIFT_PY_VERSION}"),
             "asking pip for the wheel's published digest", timeout=300)
        with open(report, encoding="utf-8") as f:
            data = json.load(f)
        info = data["install"][0]["download_info"]
        return info["url"], info["archive_info"]["hashes"]["sha256"]
    except (SetupError, OSError, ValueError, KeyError, IndexError):
        return None


def fetch_wheel(spec: EmulatedArch, python: str, scratch: str, site: str, say: Callable[[str], None]) -> dict:
    wheels = os.path.join(scratch, "wheels")
    os.makedirs(wheels, exist_ok=True)
    say(f"downloading cranelift-py {CRANELIFT_PY_VERSION} for {spec.wheel_platform}, CPython {python} (pip download)")
    run_tool(_pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "--platform", spec.wheel_platform,
                  "--python-version", python, "--dest", wheels, f"cranelift-py=={CRANELIFT_PY_VERSION}"),
             "pip download cranelift-py", timeout=600)
    found = [f for f in os.listdir(wheels) if f.endswith(".whl")]
    if len(found) != 1 or not found[0].startswith(f"cranelift_py-{CRANELIFT_PY_VERSION}-"):
        raise SetupError(f"pip download gave {found or 'no wheel'}, not one cranelift-py {CRANELIFT_PY_VERSION} wheel")
    wheel = os.path.join(wheels, found[0])
    digest = _sha256(wheel)
    published = _published_digest(spec, python, scratch)
    if published is None:
        say(f"sha256 {digest} (this pip cannot report PyPI's digest; pip checked the index's own hash)")
    else:
        url, expected = published
        if os.path.basename(url) != found[0]:
            raise SetupError(f"pip would install {os.path.basename(url)}, but downloaded {found[0]}")
        if expected != digest:
            raise SetupError(f"{found[0]}: sha256 {digest} differs from PyPI's published {expected}")
        say(f"{found[0]}: sha256 {digest} matches PyPI's published digest")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    return {"file": found[0], "sha256": digest, "verified_against_pypi": published is not None}
