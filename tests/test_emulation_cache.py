"""The emulated workers' bytecode cache (`clifkit.native.emulation_setup.precompile`): a directory
clifkit owns, filled by `clifkit emulation setup`, read and kept current by every worker."""

from __future__ import annotations

import os
import sys

import pytest

from clifkit.native import emulation, emulation_setup
from clifkit.native.launch import clifkit_source


def test_workers_use_a_bytecode_cache_of_their_own(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    _, env = emulation.worker_command("aarch64", str(tmp_path), "qemu-aarch64-static", "3.11")
    assert env["PYTHONPYCACHEPREFIX"] == os.path.join(str(tmp_path), emulation.PYCACHE)
    assert "PYTHONDONTWRITEBYTECODE" in env and env["PYTHONDONTWRITEBYTECODE"] is None  # removed


@pytest.mark.parametrize("arch", ["aarch64", "s390x"])
def test_precompile_fills_the_cache_with_the_workers_modules(arch):
    st = emulation.status(arch)
    if not (st.ready and sys.platform.startswith("linux")):
        pytest.skip(st.reason or f"{arch} runs natively here")
    n = emulation_setup.precompile(arch, st.directory, st.qemu, st.python)
    assert n > 50
    cache = os.path.join(st.directory, emulation.PYCACHE)
    # The worker, the modules it was split into, and those it imports only when asked.
    for module in ("native/worker", "native/faults", "native/chaos", "native/host", "native/listing", "reader/parser"):
        source = os.path.join(clifkit_source(), "clifkit", *module.split("/")) + ".py"
        # With a prefix, the cache mirrors the source's absolute path (no __pycache__ level).
        tag = f"{os.path.basename(module)}.cpython-{st.python.replace('.', '')}.pyc"
        assert os.path.isfile(cache + os.path.join(os.path.dirname(source), tag)), module
