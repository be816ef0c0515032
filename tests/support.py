"""What several test files need to know about this machine, said once: whether the cranelift
binding is installed, whether the host is x86-64 Linux, where the examples are, and the skip
marker for tests that run native x86-64 code. A test file imports what it needs from here
(pytest puts this directory on the path) rather than finding it out again."""

from __future__ import annotations

import os
import sys

import pytest

from clifkit.native.host import host_arch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EXAMPLES = os.path.join(ROOT, "examples")

LINUX = sys.platform.startswith("linux")
X86_64_LINUX = LINUX and host_arch() == "x86_64"

try:
    import cranelift  # noqa: F401

    HAVE_CRANELIFT = True
except ImportError:
    HAVE_CRANELIFT = False

needs_native = pytest.mark.skipif(not (HAVE_CRANELIFT and X86_64_LINUX),
                                  reason="needs the cranelift binding on an x86-64 Linux host")


def native_targets() -> set:
    """The native targets this machine runs (x86_64 on the host, others if emulation is ready)."""
    from clifkit.native import emulation

    out = set()
    if HAVE_CRANELIFT and X86_64_LINUX:
        out.add("x86_64")
        out |= {arch for arch in ("aarch64", "s390x") if emulation.status(arch).ready}
    return out


def needs_emulation(arch: str):
    """Skip unless `arch` code runs here under QEMU (`clifkit emulation setup`), with the reason."""
    from clifkit.native import emulation

    st = emulation.status(arch)
    ok = HAVE_CRANELIFT and LINUX and st.ready
    why = st.reason or f"{arch} runs natively here" if not st.ready else "needs the cranelift binding on Linux"
    return pytest.mark.skipif(not ok, reason=why)


def signal_then_wait(proc, delay: float, send, timeout: float = 60) -> tuple[str, str]:
    """Wait `delay` seconds, call `send(proc)` (say, ``lambda p: p.send_signal(signal.SIGTERM)``),
    then collect the process's (stdout, stderr); it is killed if it does not end in `timeout`."""
    import time

    try:
        time.sleep(delay)
        send(proc)
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
