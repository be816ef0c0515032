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

import json
import os
import shutil
from dataclasses import dataclass, field
from typing import Optional

from .host import host_arch
from .launch import clifkit_source

CRANELIFT_PY_VERSION = "0.1.0"
STATE_FILE = "state.json"
STATE_FORMAT = 1
PYCACHE = "pycache"  # the bytecode cache (see the module docstring)
# CPython versions cranelift-py 0.1.0 has wheels for, in order of preference.
PYTHON_VERSIONS = ("3.11", "3.12", "3.13", "3.10")
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


# -- where things are -----------------------------------------------------------------------------


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


def emulated_arches() -> list[str]:
    """The architectures this host would emulate (`setup all`)."""
    host = host_arch()
    return [a for a in ("aarch64", "s390x") if a != host] + ([] if host == "x86_64" else ["x86_64"])


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
    return python_command(arch, ["-m", "clifkit.native.worker"], directory, qemu, python)


def python_command(arch: str, args: list[str], directory: Optional[str] = None, qemu: Optional[str] = None,
                   python: Optional[str] = None) -> tuple[list[str], dict]:
    """(command, environment changes) that run the emulated Python of `arch` with `args` (its
    Python and cranelift-py in `directory`, the architecture's directory unless given)."""
    directory = directory or arch_dir(arch)
    if python is None:
        state = _read_state(directory) or {}
        python = state.get("python") or PYTHON_VERSIONS[0]
    qemu = qemu or find_qemu(arch) or f"qemu-{arch}-static"
    root = os.path.join(directory, "root")
    # -S: nothing from site-packages (the host's dist-packages may hold other machines' modules).
    command = [qemu, "-L", root, os.path.join(root, "usr", "bin", f"python{python}"), "-S", *args]
    env: dict = {name: None for name in _UNSET}
    env.update(_python_env(directory, os.path.join(directory, "site")))
    return command, env


def _python_env(directory: str, site: str) -> dict:
    """The emulated Python's own variables: its path, and its bytecode cache."""
    return {"PYTHONPATH": os.pathsep.join([site, clifkit_source()]), "PYTHONNOUSERSITE": "1",
            "PYTHONPYCACHEPREFIX": os.path.join(directory, PYCACHE), "PYTHONDONTWRITEBYTECODE": None}


