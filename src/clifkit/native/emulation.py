"""Running other architectures' code under QEMU user-mode emulation.

The native worker (`clifkit.native.worker`) is plain Python over the
``cranelift-py`` binding, so code for another ISA runs by starting the *same*
worker inside an emulated Python of that architecture::

    qemu-aarch64-static -L ROOT ROOT/usr/bin/python3.11 -S -m clifkit.native.worker

with ``PYTHONPATH=SITE:<clifkit's source>``. The harness speaks the same
protocol to it as to the host's worker (`clifkit.native.protocol`: values
travel as bit patterns, the worker lays them out in its own byte order), so
lowering, legalization, guarded heaps, trap codes and crash isolation are the
same code on every ISA; Cranelift compiles for the emulated machine because
that is the worker's host.

What a worker needs, prepared once by ``clifkit emulation setup ARCH`` in
``<cache>/emulation/<arch>`` (``<cache>`` is ``$CLIFKIT_CACHE``, else
``~/.cache/clifkit``):

* ``root/``: Debian's packages of a CPython (3.11 on Debian 12) and the few
  libraries it and ctypes need, for that architecture, unpacked with
  ``dpkg-deb -x``. They are fetched with ``apt-get download`` against a
  private apt state (``-o APT::Architecture=...``, the machine's own
  sources), so the machine's dpkg configuration is never changed; apt checks
  them against the archive's signed index;
* ``site/``: the ``cranelift-py`` wheel for that architecture and Python,
  fetched with ``pip download``, its sha256 checked against the digest PyPI
  publishes (as ``pip install --dry-run --report`` gives it), and unzipped;
* ``state.json``: written last, once the emulated Python imported cranelift
  and a worker compiled and ran a heap-using function correctly;
* ``pycache/``: the bytecode of every module a worker imports (Debian's
  stdlib, cranelift-py, clifkit), compiled by the emulated Python into this
  cache of clifkit's own (``PYTHONPYCACHEPREFIX``): without it an emulated
  worker compiles them all at every start (about 2.5 s instead of under 1 s).
  ``clifkit emulation setup`` fills it, also on an architecture already set
  up; workers keep it current (they may write there even under
  ``PYTHONDONTWRITEBYTECODE``, which otherwise stops every write).

QEMU itself comes from the host (``qemu-<arch>-static`` or ``qemu-<arch>``:
``apt-get install qemu-user-static``). Nothing is fetched during
``clifkit test``: an architecture that is not set up is skipped with the
reason (`emulation_problem`).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, TextIO

CRANELIFT_PY_VERSION = "0.1.0"
STATE_FILE = "state.json"
STATE_FORMAT = 1
PYCACHE = "pycache"  # the bytecode cache (see the module docstring)
# CPython versions cranelift-py 0.1.0 has wheels for, in order of preference.
PYTHON_VERSIONS = ("3.11", "3.12", "3.13", "3.10")
# Debian packages an emulated CPython needs besides python3.X-minimal, libpython3.X-minimal and
# libpython3.X-stdlib: the C library, libgcc (unwinding, for the binding), zlib and expat (the
# interpreter links them) and libffi (ctypes).
LIBRARIES = ("libc6", "libgcc-s1", "zlib1g", "libffi8", "libexpat1")
INSTALL_QEMU = "apt-get install qemu-user-static"


@dataclass(frozen=True)
class EmulatedArch:
    name: str  # as in CLIF `target` lines and Cranelift triples
    debian: str  # Debian's name of the architecture
    wheel_platform: str  # pip's --platform for cranelift-py's wheel
    byteorder: str

    @property
    def qemu_names(self) -> tuple[str, ...]:
        return (f"qemu-{self.name}-static", f"qemu-{self.name}")


ARCHES = {
    "aarch64": EmulatedArch("aarch64", "arm64", "manylinux2014_aarch64", "little"),
    "s390x": EmulatedArch("s390x", "s390x", "manylinux2014_s390x", "big"),
    # For hosts of the other architectures (untested on an x86-64 host, where it is native).
    "x86_64": EmulatedArch("x86_64", "amd64", "manylinux2014_x86_64", "little"),
}
# Architectures Cranelift has a backend for that no emulated worker can serve.
UNAVAILABLE = {
    "riscv64": "cranelift-py 0.1.0 publishes no riscv64 build, so no worker can compile riscv64 code "
               "(not even under emulation)",
}


class SetupError(Exception):
    """Setting up emulation failed; the message says why and what to do."""


# -- where things are -----------------------------------------------------------------------------


def host_arch() -> str:
    m = platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}.get(m, m)


def cache_root() -> str:
    """``$CLIFKIT_CACHE``, else ``~/.cache/clifkit``."""
    found = os.environ.get("CLIFKIT_CACHE")
    if found:
        return os.path.abspath(os.path.expanduser(found))
    return os.path.join(os.path.expanduser("~"), ".cache", "clifkit")


def arch_dir(arch: str) -> str:
    return os.path.join(cache_root(), "emulation", arch)


def find_qemu(arch: str) -> Optional[str]:
    """The QEMU user-mode emulator for `arch` on PATH (``qemu-aarch64-static`` first), or None."""
    spec = ARCHES.get(arch)
    if spec is None:
        return None
    for name in spec.qemu_names:
        found = shutil.which(name)
        if found:
            return found
    return None


def clifkit_source() -> str:
    """The directory clifkit is imported from (what the emulated worker imports too)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def setup_command(arch: str) -> str:
    return f"clifkit emulation setup {arch}"


# -- status ---------------------------------------------------------------------------------------


@dataclass
class ArchStatus:
    arch: str
    ready: bool = False
    native: bool = False  # the host runs this architecture itself
    reason: Optional[str] = None  # why it is not ready
    directory: Optional[str] = None
    qemu: Optional[str] = None
    state: dict = field(default_factory=dict)

    @property
    def python(self) -> Optional[str]:
        return self.state.get("python")

    def describe(self) -> str:
        if self.native:
            return f"{self.arch}: runs natively on this host"
        if not self.ready:
            return f"{self.arch}: not ready: {self.reason}"
        s = self.state
        return (f"{self.arch}: ready: Python {s.get('python_full', s.get('python'))} and cranelift-py "
                f"{s.get('cranelift')} under {self.qemu}, in {self.directory}")


def _read_state(directory: str) -> Optional[dict]:
    try:
        with open(os.path.join(directory, STATE_FILE), encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        return None
    return state


def status(arch: str) -> ArchStatus:
    """Whether `arch` code can run here under emulation (reading local files only: cheap)."""
    st = ArchStatus(arch)
    if arch == host_arch():
        st.native = True
        return st
    if arch in UNAVAILABLE:
        st.reason = UNAVAILABLE[arch]
        return st
    if arch not in ARCHES:
        st.reason = f"clifkit cannot emulate {arch} (it emulates {', '.join(a for a in ARCHES if a != host_arch())})"
        return st
    st.directory = arch_dir(arch)
    st.qemu = find_qemu(arch)
    state = _read_state(st.directory)
    if st.qemu is None:
        then = f", then `{setup_command(arch)}`" if state is None else ""
        st.reason = (f"QEMU user-mode emulation of {arch} is not installed (no qemu-{arch}-static on PATH): "
                     f"`{INSTALL_QEMU}`{then}")
        return st
    if state is None:
        st.reason = f"{arch} emulation is not set up: run `{setup_command(arch)}`"
        return st
    python = os.path.join(st.directory, "root", "usr", "bin", f"python{state.get('python', '')}")
    if not os.path.isfile(python) or not os.path.isdir(os.path.join(st.directory, "site", "cranelift")):
        st.reason = f"{arch} emulation in {st.directory} is incomplete: run `{setup_command(arch)}` again"
        return st
    st.state = state
    st.ready = True
    return st


def emulation_problem(arch: str) -> Optional[str]:
    """Why code for `arch` cannot run on this (foreign) host, or None when emulation is ready."""
    st = status(arch)
    if st.ready or st.native:
        return None
    return st.reason


# -- the worker ----------------------------------------------------------------------------------

# Variables of the host's environment that would mislead the emulated Python or its loader.
_UNSET = ("PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONEXECUTABLE", "LD_PRELOAD", "LD_LIBRARY_PATH")


def worker_command(arch: str, directory: Optional[str] = None, qemu: Optional[str] = None,
                   python: Optional[str] = None) -> tuple[list[str], dict]:
    """(command, environment changes) that start the native worker under emulation of `arch`.
    A None value in the environment changes means: remove that variable."""
    directory = directory or arch_dir(arch)
    if python is None:
        state = _read_state(directory) or {}
        python = state.get("python") or PYTHON_VERSIONS[0]
    qemu = qemu or find_qemu(arch) or f"qemu-{arch}-static"
    root = os.path.join(directory, "root")
    # -S: nothing from site-packages (the host's dist-packages may hold other machines' modules).
    command = [qemu, "-L", root, os.path.join(root, "usr", "bin", f"python{python}"), "-S",
               "-m", "clifkit.native.worker"]
    env: dict = {name: None for name in _UNSET}
    env.update(_python_env(directory, os.path.join(directory, "site")))
    return command, env


def _changed_env(changes: dict) -> dict:
    """This process's environment with `changes` made (None: remove the variable)."""
    env = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _python_env(directory: str, site: str) -> dict:
    """The emulated Python's own variables: its path, and its bytecode cache."""
    return {"PYTHONPATH": os.pathsep.join([site, clifkit_source()]), "PYTHONNOUSERSITE": "1",
            "PYTHONPYCACHEPREFIX": os.path.join(directory, PYCACHE), "PYTHONDONTWRITEBYTECODE": None}


# Run by the emulated Python: import what a worker imports, then compile each module's source
# into the bytecode cache (py_compile honours PYTHONPYCACHEPREFIX, and writes whatever
# PYTHONDONTWRITEBYTECODE says).
_PRECOMPILE = (
    "import sys, py_compile, cranelift, clifkit.native.worker, clifkit.native.lower\n"
    "n = 0\n"
    "for m in list(sys.modules.values()):\n"
    "    f = getattr(m, '__file__', None)\n"
    "    if f and f.endswith('.py'):\n"
    "        n += py_compile.compile(f, doraise=False) is not None\n"
    "print(n)\n"
)


def precompile(arch: str, directory: str, qemu: str, python: str) -> int:
    """Fill `directory`'s bytecode cache for the worker's modules; how many were compiled."""
    command, changes = worker_command(arch, directory, qemu, python)
    text = _run(command[:-2] + ["-c", _PRECOMPILE], "compiling the worker's bytecode", env=_changed_env(changes),
                timeout=600)
    words = text.split()
    return int(words[-1]) if words and words[-1].isdigit() else 0


# -- setup ----------------------------------------------------------------------------------------


class _Progress:
    def __init__(self, arch: str, out: Optional[TextIO]):
        self.arch = arch
        self.out = out

    def __call__(self, text: str) -> None:
        if self.out is not None:
            print(f"{self.arch}: {text}", file=self.out, flush=True)


def _run(cmd: Sequence[str], what: str, cwd: Optional[str] = None, timeout: float = 900,
         env: Optional[dict] = None) -> str:
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


class _Apt:
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
        text = _run(["apt-get", *self.options, "update"], f"apt-get update for {self.arch}")
        if "Failed to fetch" in text or "W: Some index files failed" in text:
            bad = [ln for ln in text.splitlines() if ln.startswith(("W:", "E:", "Err:"))]
            raise SetupError(f"apt could not read the {self.arch} package lists of this machine's sources: "
                             + " | ".join(bad[:3]))

    def version(self, package: str) -> Optional[str]:
        try:
            text = _run(["apt-cache", *self.options, "show", "--no-all-versions", package], "apt-cache show")
        except SetupError:
            return None
        for line in text.splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
        return None

    def download(self, packages: Sequence[str], into: str) -> list[str]:
        _run(["apt-get", *self.options, "download", *packages], f"apt-get download ({self.arch})", cwd=into)
        found = sorted(f for f in os.listdir(into) if f.endswith(".deb"))
        missing = [p for p in packages if not any(f.startswith(p + "_") for f in found)]
        if missing:
            raise SetupError(f"apt-get download left out {', '.join(missing)}")
        return [os.path.join(into, f) for f in found]


def _extract_deb(deb: str, root: str) -> None:
    """``dpkg-deb -x``, or the same in Python (ar archive, data.tar.{xz,gz,bz2}) without dpkg."""
    if shutil.which("dpkg-deb"):
        _run(["dpkg-deb", "-x", deb, root], f"unpacking {os.path.basename(deb)}")
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
        _run(_pip("install", "--dry-run", "--quiet", "--ignore-installed", "--no-deps", "--only-binary=:all:",
                  "--target", os.path.join(scratch, "pip-target"), "--platform", spec.wheel_platform,
                  "--python-version", python, "--report", report, f"cranelift-py=={CRANELIFT_PY_VERSION}"),
             "asking pip for the wheel's published digest", timeout=300)
        with open(report, encoding="utf-8") as f:
            data = json.load(f)
        info = data["install"][0]["download_info"]
        return info["url"], info["archive_info"]["hashes"]["sha256"]
    except (SetupError, OSError, ValueError, KeyError, IndexError):
        return None


def _fetch_wheel(spec: EmulatedArch, python: str, scratch: str, site: str, say: Callable[[str], None]) -> dict:
    wheels = os.path.join(scratch, "wheels")
    os.makedirs(wheels, exist_ok=True)
    say(f"downloading cranelift-py {CRANELIFT_PY_VERSION} for {spec.wheel_platform}, CPython {python} (pip download)")
    _run(_pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "--platform", spec.wheel_platform,
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


# A function that writes and reads a heap, returns the bound slot, traps out of bounds, and
# returns a vector: wrong byte order anywhere (vmctx slots, heap, argument and result slots)
# changes a result.
_SMOKE_CLIF = """test run
function %f(i64 vmctx, i32, i32) -> i32, i64, i16x8 {
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    gv2 = load.i64 notrap aligned gv0+8
    heap0 = dynamic gv1, min 0, bound gv2, offset_guard 0, index_type i32
block0(v0: i64, v1: i32, v6: i32):
    v2 = heap_addr.i64 heap0, v1, 0, 4
    store.i32 little v6, v2
    v3 = uload8.i32 v2
    v4 = global_value.i64 gv2
    v5 = vconst.i16x8 [1 2 3 4 5 6 7 0x7ffe]
    return v3, v4, v5
}
"""
_SMOKE_ENV = {"pointer_bytes": 8, "heaps": [{"index": 0, "style": "dynamic", "size": 0x100, "ptr_offset": 0,
                                             "bound_offset": 8, "max_size": 0x100, "guard": 0, "element_size": 1}]}


def smoke_test(arch: str, directory: str, qemu: str, python: str) -> dict:
    """Start a worker under emulation, compile and run `_SMOKE_CLIF`; its hello on success."""
    from .engine import WorkerClient, WorkerDied

    command, env = worker_command(arch, directory, qemu, python)
    client = WorkerClient(command, env)
    try:
        try:
            hello = client.request({"op": "hello"}, timeout=120)
            if hello.get("machine") != arch or not hello.get("cranelift"):
                raise SetupError(f"the emulated worker reports machine {hello.get('machine')!r}, "
                                 f"cranelift {hello.get('cranelift')!r}")
            loaded = client.request({"op": "load", "path": "<smoke>", "source": _SMOKE_CLIF, "triple": None,
                                     "flags": {}}, timeout=300)
            if not loaded.get("ok") or loaded.get("functions", {}).get("%f"):
                raise SetupError(f"the emulated worker could not compile a test function: "
                                 f"{loaded.get('message') or loaded.get('functions')}")
            reqs = [{"function": "%f", "args": [0xFC, 0x11223344], "env": _SMOKE_ENV, "line": 1},
                    {"function": "%f", "args": [0xFD, 0], "env": _SMOKE_ENV, "line": 2}]
            ran = client.request({"op": "run", "requests": reqs, "timeout": 60, "isolation": "batch"}, timeout=300)
        except WorkerDied as e:
            raise SetupError(f"the emulated worker failed: {e}") from None
        results = ran.get("results") or [None, None]
        want = {"kind": "returned", "values": [0x44, 0x100, (1, 2, 3, 4, 5, 6, 7, 0x7FFE)]}
        if results[0] != want:
            raise SetupError(f"a test function gave {results[0]}, not {want}")
        if (results[1] or {}).get("kind") != "trapped" or results[1].get("code") != "heap_oob":
            raise SetupError(f"an out-of-bounds access gave {results[1]}, not a heap_oob trap")
        return hello
    finally:
        client.close()


def setup(arch: str, out: Optional[TextIO] = sys.stdout, force: bool = False) -> ArchStatus:
    """Prepare emulation of `arch` (see the module docstring). Raises SetupError."""
    say = _Progress(arch, out)
    started = time.monotonic()
    current = status(arch)
    if current.native:
        say(f"nothing to do: this host runs {arch} code natively")
        return current
    if arch in UNAVAILABLE:
        raise SetupError(UNAVAILABLE[arch])
    spec = ARCHES.get(arch)
    if spec is None:
        raise SetupError(current.reason or f"clifkit cannot emulate {arch}")
    if current.ready and not force:
        say(f"already set up in {current.directory} (--force sets it up again)")
        qemu = find_qemu(arch)
        if qemu is not None and current.python:
            t = time.monotonic()
            n = precompile(arch, current.directory, qemu, current.python)
            say(f"bytecode cache: {n} modules compiled ({time.monotonic() - t:.1f} s)")
        return current
    if not sys.platform.startswith("linux"):
        raise SetupError("QEMU user-mode emulation needs a Linux host")
    qemu = find_qemu(arch)
    if qemu is None:
        raise SetupError(f"no qemu-{arch}-static on PATH: install QEMU user-mode emulation "
                         f"(`{INSTALL_QEMU}`) and run `{setup_command(arch)}` again")
    say(f"emulator: {qemu}")
    for tool in ("apt-get", "apt-cache"):
        if shutil.which(tool) is None:
            raise SetupError(f"{tool} is not installed: clifkit fetches the emulated Python from Debian's "
                             f"packages with apt (a Debian or Ubuntu host)")
    final = arch_dir(arch)
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".{arch}-setup-", dir=parent)
    try:
        apt = _Apt(spec.debian, os.path.join(work, "apt"))
        say(f"reading Debian's {spec.debian} package lists (apt-get update, private state; the machine's "
            f"apt configuration is not changed)")
        apt.update()
        python = next((v for v in PYTHON_VERSIONS if apt.version(f"python{v}-minimal")), None)
        if python is None:
            raise SetupError(f"the {spec.debian} archive of this machine's sources has no "
                             f"python3.{{10,11,12,13}}-minimal (cranelift-py has wheels for those only)")
        packages = [f"python{python}-minimal", f"libpython{python}-minimal", f"libpython{python}-stdlib",
                    *LIBRARIES]
        versions = {p: apt.version(p) for p in packages}
        missing = [p for p, v in versions.items() if v is None]
        if missing:
            raise SetupError(f"the {spec.debian} archive has no {', '.join(missing)}")
        say(f"downloading {len(packages)} packages: " + ", ".join(f"{p} {v}" for p, v in versions.items()))
        debs_dir = os.path.join(work, "debs")
        os.makedirs(debs_dir)
        debs = apt.download(packages, debs_dir)
        root = os.path.join(work, "new", "root")
        site = os.path.join(work, "new", "site")
        os.makedirs(root)
        os.makedirs(site)
        say("unpacking them (apt checked each against the archive's signed index)")
        for deb in debs:
            _extract_deb(deb, root)
        if not os.path.isfile(os.path.join(root, "usr", "bin", f"python{python}")):
            raise SetupError(f"the packages hold no usr/bin/python{python}")
        wheel = _fetch_wheel(spec, python, work, site, say)
        directory = os.path.join(work, "new")
        say("checking: the emulated Python imports cranelift")
        env = _changed_env({**{name: None for name in _UNSET}, **_python_env(directory, site)})
        t = time.monotonic()
        text = _run([qemu, "-L", root, os.path.join(root, "usr", "bin", f"python{python}"), "-S", "-c",
                     "import platform, sys, cranelift, clifkit.native.lower; "
                     "print(platform.machine(), sys.byteorder, platform.python_version())"],
                    "running the emulated Python", env=env, timeout=300)
        words = text.split()
        if len(words) < 3 or words[-3] not in (arch, {"aarch64": "arm64"}.get(arch, arch)) or words[-2] != spec.byteorder:
            raise SetupError(f"the emulated Python says {text.strip()!r}, expected {arch} {spec.byteorder}")
        say(f"ok: {words[-3]}, {words[-2]}-endian, Python {words[-1]} ({time.monotonic() - t:.1f} s)")
        t = time.monotonic()
        n = precompile(arch, directory, qemu, python)
        say(f"bytecode cache: {n} modules compiled ({time.monotonic() - t:.1f} s)")
        say("checking: a worker compiles and runs a function with a heap, an out-of-bounds trap and a vector")
        t = time.monotonic()
        smoke_test(arch, directory, qemu, python)
        say(f"ok ({time.monotonic() - t:.1f} s)")
        state = {
            "format": STATE_FORMAT, "arch": arch, "python": python, "python_full": words[-1],
            "cranelift": CRANELIFT_PY_VERSION, "wheel": wheel, "packages": versions, "qemu": qemu,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        with open(os.path.join(directory, STATE_FILE), "w", encoding="utf-8") as f:
            json.dump(state, f, indent=2, sort_keys=True)
        # Swap the new directory in (the old one is removed with the scratch directory): a reader
        # sees the old one, briefly none, or the new one, never a partial one.
        if os.path.exists(final):
            os.rename(final, os.path.join(work, "old"))
        os.rename(directory, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = status(arch)
    if not result.ready:
        raise SetupError(result.reason or "set up, yet not ready")
    say(f"ready in {final} ({time.monotonic() - started:.0f} s)")
    return result


def emulated_arches() -> list[str]:
    """The architectures this host would emulate (`setup all`)."""
    host = host_arch()
    return [a for a in ("aarch64", "s390x") if a != host] + ([] if host == "x86_64" else ["x86_64"])


# -- the command ----------------------------------------------------------------------------------


def cmd_setup(args) -> int:
    wanted = args.arch or "all"
    arches = emulated_arches() if wanted == "all" else [wanted]
    status_code = 0
    for arch in arches:
        try:
            setup(arch, sys.stdout, force=bool(getattr(args, "force", False)))
        except (SetupError, OSError) as e:
            print(f"{arch}: error: {e}", file=sys.stderr, flush=True)
            status_code = 1
        except KeyboardInterrupt:
            print(f"{arch}: interrupted", file=sys.stderr)
            return 130
    return status_code


def cmd_status(args) -> int:
    arches = list(args.arch) if getattr(args, "arch", None) else emulated_arches() + list(UNAVAILABLE)
    print(f"host: {host_arch()}; cache: {os.path.join(cache_root(), 'emulation')}")
    code = 0
    for arch in arches:
        st = status(arch)
        print(st.describe())
        if not (st.ready or st.native) and arch not in UNAVAILABLE:
            code = 1
    return code


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="emulation_command", metavar="ACTION")
    sub.required = True
    choices = sorted(set(ARCHES) | set(UNAVAILABLE) | {"all"})
    s = sub.add_parser("setup", help="prepare an emulated Python with cranelift-py for ARCH (or all)")
    s.add_argument("arch", nargs="?", choices=choices, default="all", metavar="ARCH",
                   help="aarch64, s390x or all (the default)")
    s.add_argument("--force", action="store_true", help="set up again even when ready")
    s.set_defaults(func=cmd_setup)
    s = sub.add_parser("status", help="say which architectures' code can run here")
    s.add_argument("arch", nargs="*", metavar="ARCH", help="architectures to report (default: all)")
    s.set_defaults(func=cmd_status)
