"""This machine as Cranelift names it: its architecture and target triple.

One definition for the engine (which targets run here), the lowering (the ISA to build), the
worker (what it reports and compiles for), emulation (which architectures are foreign) and the
reader (whose flags a target line takes: `clifkit.ir.settings`). It imports nothing heavy, so that
every one of them, and a worker starting under QEMU, can use it."""

from __future__ import annotations

import sys

# platform.machine()'s other spellings of the architectures Cranelift has backends for.
_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}


def arch_name(machine: str) -> str:
    """Cranelift's name of an architecture written as platform.machine() or a triple may write it."""
    m = machine.lower()
    return _ALIASES.get(m, m)


def target_arch(target: str) -> str:
    """The architecture a target line's words ("x86_64 has_avx") or a triple
    ("x86_64-unknown-linux-gnu") name, as `arch_name` spells it."""
    return arch_name(target.split()[0].split("-")[0])


def host_arch() -> str:
    """The architecture this process runs on ("x86_64", "aarch64", "s390x", ...)."""
    import platform  # (here: the reader's check of a target line uses target_arch, at start-up)

    return arch_name(platform.machine())


def host_triple() -> str:
    """The target triple of this machine, as Cranelift names it."""
    arch = host_arch()
    if sys.platform == "darwin":
        return f"{arch}-apple-darwin"
    if sys.platform.startswith("win"):
        return f"{arch}-pc-windows-msvc"
    return f"{arch}-unknown-linux-gnu"
