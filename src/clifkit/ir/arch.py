"""Architecture names as Cranelift spells them, from a machine name, a triple or a target line.

Below the reader and both engines: the reader's check of a target line (`ir.settings`), the
native engine's host and targets (`native.host`) and the harness all name architectures so.
It imports nothing, so that a worker starting under QEMU can use it."""

from __future__ import annotations

# platform.machine()'s and triples' other spellings of the architectures Cranelift has backends for.
_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}


def arch_name(machine: str) -> str:
    """Cranelift's name of an architecture written as platform.machine() or a triple may write it."""
    m = machine.lower()
    return _ALIASES.get(m, m)


def target_arch(target: str) -> str:
    """The architecture a target line's words ("x86_64 has_avx") or a triple
    ("x86_64-unknown-linux-gnu") name, as `arch_name` spells it."""
    return arch_name(target.split()[0].split("-")[0])
