"""This machine as Cranelift names it: its architecture and target triple.

One definition for the engine (which targets run here), the lowering (the ISA to build), the
worker (what it reports and compiles for) and emulation (which architectures are foreign); the
names themselves are `clifkit.ir.arch`'s. It imports nothing heavy, so that every one of them,
and a worker starting under QEMU, can use it."""

from __future__ import annotations

import sys

from ..ir.arch import arch_name


def host_arch() -> str:
    """The architecture this process runs on ("x86_64", "aarch64", "s390x", ...)."""
    import platform  # (here: not on clifkit's start-up path)

    return arch_name(platform.machine())


def host_triple() -> str:
    """The target triple of this machine, as Cranelift names it."""
    arch = host_arch()
    if sys.platform == "darwin":
        return f"{arch}-apple-darwin"
    if sys.platform.startswith("win"):
        return f"{arch}-pc-windows-msvc"
    return f"{arch}-unknown-linux-gnu"
