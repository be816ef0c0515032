"""``clifkit emulation setup ARCH``: prepare `<cache>/emulation/<arch>` (the layout is described in
`clifkit.native.emulation`), check that a worker runs there, and fill its bytecode cache.

Apart from `emulation`, which only reads what setup left (cheaply, at every ``clifkit test``),
and from `emulation_packages`, which runs the package managers."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from typing import Optional, TextIO

from .emulation import (ARCHES, CRANELIFT_PY_VERSION, INSTALL_QEMU, PYTHON_VERSIONS, STATE_FILE, STATE_FORMAT,
                        UNAVAILABLE, ArchStatus, arch_dir, find_qemu, python_command, setup_command, status,
                        worker_command)
from .emulation_packages import Apt, CheckFailed, SetupError, extract_deb, fetch_wheel, run_tool
from ..ir.arch import arch_name
from .launch import changed_env

# Debian packages an emulated CPython needs besides python3.X-minimal, libpython3.X-minimal and
# libpython3.X-stdlib: the C library, libgcc (unwinding, for the binding), zlib and expat (the
# interpreter links them) and libffi (ctypes).
LIBRARIES = ("libc6", "libgcc-s1", "zlib1g", "libffi8", "libexpat1")


class _Progress:
    def __init__(self, arch: str, out: Optional[TextIO]):
        self.arch = arch
        self.out = out

    def __call__(self, text: str) -> None:
        if self.out is not None:
            print(f"{self.arch}: {text}", file=self.out, flush=True)


# What a worker imports, also those it imports only when asked (the reader for a file's text,
# the listing for `clifkit lower`): with what they import, the modules whose bytecode is cached.
WORKER_MODULES = ("clifkit.native.worker", "clifkit.native.lower", "clifkit.native.listing", "clifkit.reader")
# Run by the emulated Python: import those, then compile each module's source
# into the bytecode cache (py_compile honours PYTHONPYCACHEPREFIX, and writes whatever
# PYTHONDONTWRITEBYTECODE says).
_PRECOMPILE = (
    "import sys, py_compile, cranelift\n"
    f"import {', '.join(WORKER_MODULES)}\n"
    "n = 0\n"
    "for m in list(sys.modules.values()):\n"
    "    f = getattr(m, '__file__', None)\n"
    "    if f and f.endswith('.py'):\n"
    "        n += py_compile.compile(f, doraise=False) is not None\n"
    "print(n)\n"
)


def precompile(arch: str, directory: str, qemu: str, python: str) -> int:
    """Fill `directory`'s bytecode cache for the worker's modules; how many were compiled."""
    command, changes = python_command(arch, ["-c", _PRECOMPILE], directory, qemu, python)
    text = run_tool(command, "compiling the worker's bytecode", env=changed_env(changes), timeout=600)
    words = text.split()
    return int(words[-1]) if words and words[-1].isdigit() else 0


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


def smoke_environment() -> dict:
    """The wire form of the smoke test's environment: heap0, 256 bytes, its base at vmctx+0 and
    its bound at vmctx+8. Made by `environment_to_wire`, as the harness makes every run line's,
    so that it has every field the worker reads."""
    from ..environment.layout import Environment, HeapRequest
    from .memory import environment_to_wire

    heap = HeapRequest(index=0, style="dynamic", size=0x100, ptr_offset=0, bound_offset=8, max_size=0x100,
                       guard=0, loc=None)
    return environment_to_wire(Environment((heap,), pointer_bytes=8))


def smoke_test(arch: str, directory: str, qemu: str, python: str) -> dict:
    """Start a worker under emulation, compile and run `_SMOKE_CLIF`; its hello on success."""
    from .engine import WorkerClient

    command, env = worker_command(arch, directory, qemu, python)
    client = WorkerClient(command, env)
    try:
        return check_worker(client, arch)
    finally:
        client.close()


def check_worker(client, arch: str) -> dict:
    """Have the worker behind `client` compile and run `_SMOKE_CLIF` as `clifkit test` would; its
    hello when every result is right. Else SetupError when the worker cannot even answer its hello
    (an emulator or packages that do not work here), CheckFailed when it answered and then went
    wrong: a wrong machine, a failed compile, a wrong result, or death on the way (clifkit's fault,
    or the emulator's). (The tests run it on a worker of the host.)"""
    from .engine import WorkerDied

    smoke_env = smoke_environment()
    try:
        hello = client.request({"op": "hello"}, timeout=120)
    except WorkerDied as e:
        raise SetupError(f"the {arch} worker failed: {e}") from None
    try:
        if hello.get("machine") != arch or not hello.get("cranelift"):
            raise CheckFailed(f"the {arch} worker reports machine {hello.get('machine')!r}, "
                              f"cranelift {hello.get('cranelift')!r}")
        loaded = client.request({"op": "load", "path": "<smoke>", "source": _SMOKE_CLIF, "triple": None,
                                 "flags": {}}, timeout=300)
        if not loaded.get("ok") or loaded.get("functions", {}).get("%f"):
            raise CheckFailed(f"the {arch} worker could not compile a test function: "
                              f"{loaded.get('message') or loaded.get('functions')}")
        reqs = [{"function": "%f", "args": [0xFC, 0x11223344], "env": smoke_env, "line": 1},
                {"function": "%f", "args": [0xFD, 0], "env": smoke_env, "line": 2}]
        ran = client.request({"op": "run", "requests": reqs, "timeout": 60, "isolation": "batch"}, timeout=300)
    except WorkerDied as e:
        raise CheckFailed(f"the {arch} worker failed after its hello: {e}") from None
    results = ran.get("results") or [None, None]
    want = {"kind": "returned", "values": [0x44, 0x100, (1, 2, 3, 4, 5, 6, 7, 0x7FFE)]}
    if results[0] != want:
        raise CheckFailed(f"a test function gave {results[0]}, not {want}")
    if (results[1] or {}).get("kind") != "trapped" or results[1].get("code") != "heap_oob":
        raise CheckFailed(f"an out-of-bounds access gave {results[1]}, not a heap_oob trap")
    return hello


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
        apt = Apt(spec.debian, os.path.join(work, "apt"))
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
            extract_deb(deb, root)
        if not os.path.isfile(os.path.join(root, "usr", "bin", f"python{python}")):
            raise SetupError(f"the packages hold no usr/bin/python{python}")
        wheel = fetch_wheel(spec, python, work, site, say)
        directory = os.path.join(work, "new")
        say("checking: the emulated Python imports cranelift")
        command, changes = python_command(arch, ["-c", "import platform, sys, cranelift, clifkit.native.lower; "
                                                 "print(platform.machine(), sys.byteorder, platform.python_version())"],
                                          directory, qemu, python)
        t = time.monotonic()
        text = run_tool(command, "running the emulated Python", env=changed_env(changes), timeout=300)
        words = text.split()
        if len(words) < 3 or arch_name(words[-3]) != arch or words[-2] != spec.byteorder:
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
