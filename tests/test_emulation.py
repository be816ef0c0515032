"""Running aarch64 and s390x code under QEMU user-mode emulation (`clifkit.native.emulation`).

Most tests need nothing: readiness, skip reasons, the worker command, setup's
refusals, the per-architecture parts of the worker. The tests marked
`needs_emulation(arch)` run real code under emulation and are skipped unless
``clifkit emulation setup ARCH`` has prepared it (``.ci/run`` does where the
machine allows); they are few, since each emulated worker costs about a
second to start, and share their workers (one per architecture per process).
"""

from __future__ import annotations

import ctypes
import glob
import io
import json
import os
import platform
import re
import sys
import tarfile

import pytest

from clifkit.cli import main as clifkit_main
from clifkit.native import emulation, emulation_packages, emulation_setup
from clifkit.native import engine as native_engine
from clifkit.native.host import host_arch
from support import EXAMPLES, HAVE_CRANELIFT, needs_emulation


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """A cache with nothing set up in it."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CLIFKIT_CACHE", str(cache))
    return cache


def _fake_qemu(tmp_path, monkeypatch, arch: str) -> str:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    qemu = bindir / f"qemu-{arch}-static"
    qemu.write_text("#!/bin/sh\nexit 1\n")
    qemu.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    return str(qemu)


def _fake_setup(cache, arch: str, python: str = "3.11") -> str:
    """The files `status` looks at, as setup leaves them (nothing that runs)."""
    directory = cache / "emulation" / arch
    (directory / "root" / "usr" / "bin").mkdir(parents=True)
    (directory / "root" / "usr" / "bin" / f"python{python}").write_text("")
    (directory / "site" / "cranelift").mkdir(parents=True)
    state = {"format": emulation.STATE_FORMAT, "arch": arch, "python": python, "python_full": python + ".2",
             "cranelift": "0.1.0"}
    (directory / emulation.STATE_FILE).write_text(json.dumps(state))
    return str(directory)


def _foreign(*candidates: str) -> str:
    host = host_arch()
    return next(a for a in candidates if a != host)


# -- readiness and reasons (no emulation needed) -------------------------------------------------


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.delenv("CLIFKIT_CACHE", raising=False)
    assert emulation.arch_dir("s390x") == os.path.join(os.path.expanduser("~"), ".cache", "clifkit", "emulation", "s390x")
    monkeypatch.setenv("CLIFKIT_CACHE", str(tmp_path))
    assert emulation.arch_dir("aarch64") == os.path.join(str(tmp_path), "emulation", "aarch64")


def test_not_set_up_says_what_to_run(empty_cache, tmp_path, monkeypatch):
    arch = _foreign("aarch64", "s390x")
    _fake_qemu(tmp_path, monkeypatch, arch)
    st = emulation.status(arch)
    assert not st.ready and st.reason == f"{arch} emulation is not set up: run `clifkit emulation setup {arch}`"
    why = native_engine.host_cannot_run(native_engine.TargetSpec(arch, arch, {}, {}))
    assert why == f"the host ({host_arch()}) cannot run {arch} code: {st.reason}"


def test_missing_qemu_says_how_to_install_it(empty_cache, tmp_path, monkeypatch):
    arch = _foreign("s390x", "aarch64")
    monkeypatch.setenv("PATH", str(tmp_path))  # no qemu anywhere
    st = emulation.status(arch)
    assert not st.ready and "apt-get install qemu-user-static" in st.reason and f"qemu-{arch}-static" in st.reason
    with pytest.raises(emulation_packages.SetupError, match="apt-get install qemu-user-static"):
        emulation_setup.setup(arch, out=None)


def test_ready_once_set_up(empty_cache, tmp_path, monkeypatch):
    arch = _foreign("aarch64", "s390x")
    qemu = _fake_qemu(tmp_path, monkeypatch, arch)
    directory = _fake_setup(empty_cache, arch)
    st = emulation.status(arch)
    assert st.ready and st.qemu == qemu and st.directory == directory and st.python == "3.11"
    assert emulation.emulation_problem(arch) is None
    assert native_engine.host_cannot_run(native_engine.TargetSpec(arch, arch, {}, {})) is None
    # ... until something is missing.
    os.remove(os.path.join(directory, "root", "usr", "bin", "python3.11"))
    assert "incomplete" in emulation.status(arch).reason


def test_worker_command(empty_cache, tmp_path, monkeypatch):
    arch = _foreign("s390x", "aarch64")
    qemu = _fake_qemu(tmp_path, monkeypatch, arch)
    directory = _fake_setup(empty_cache, arch, "3.12")
    command, env = emulation.worker_command(arch)
    root = os.path.join(directory, "root")
    assert command == [qemu, "-L", root, os.path.join(root, "usr", "bin", "python3.12"), "-S", "-m",
                       "clifkit.native.worker"]
    paths = env["PYTHONPATH"].split(os.pathsep)
    assert paths[0] == os.path.join(directory, "site")  # the architecture's cranelift first
    assert os.path.isfile(os.path.join(paths[1], "clifkit", "native", "worker.py"))
    assert env["PYTHONHOME"] is None and env["LD_PRELOAD"] is None  # removed, not set


def test_worker_environment_removes_variables(monkeypatch):
    monkeypatch.setenv("PYTHONHOME", "/nowhere")
    monkeypatch.setenv("PYTHONPATH", "/host/only")
    from clifkit.native.launch import worker_env

    env = worker_env({"PYTHONHOME": None, "PYTHONPATH": "/arch/site"})
    assert "PYTHONHOME" not in env
    assert env["PYTHONPATH"].split(os.pathsep)[0] == "/arch/site" and "/host/only" not in env["PYTHONPATH"]


def test_a_worker_that_cannot_start_is_a_dead_worker():
    client = native_engine.WorkerClient(["/nonexistent/qemu-s390x-static", "-L", "/x"])
    with pytest.raises(native_engine.WorkerDied, match="cannot start .*qemu-s390x-static"):
        client.request({"op": "hello"})


def test_riscv64_and_pulley_stay_skipped():
    why = native_engine.host_cannot_run(native_engine.TargetSpec("riscv64", "riscv64", {}, {}))
    if host_arch() != "riscv64":
        assert "riscv64" in why and "cranelift-py" in why
    why = native_engine.host_cannot_run(native_engine.TargetSpec("pulley64", "pulley64", {}, {}))
    assert "Pulley" in why


def test_host_architecture_needs_no_setup(empty_cache, capsys):
    host = host_arch()
    st = emulation_setup.setup(host, out=sys.stdout)
    assert st.native and "natively" in capsys.readouterr().out


def test_status_command(empty_cache, tmp_path, monkeypatch, capsys):
    arch = _foreign("aarch64", "s390x")
    _fake_qemu(tmp_path, monkeypatch, arch)
    assert clifkit_main(["emulation", "status", arch]) == 1
    out = capsys.readouterr().out
    assert f"run `clifkit emulation setup {arch}`" in out and str(empty_cache) in out
    _fake_setup(empty_cache, arch)
    assert clifkit_main(["emulation", "status", arch]) == 0
    assert f"{arch}: ready" in capsys.readouterr().out


def test_setup_command_reports_failure(empty_cache, tmp_path, monkeypatch, capsys):
    arch = _foreign("s390x", "aarch64")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert clifkit_main(["emulation", "setup", arch]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{arch}: error: ") and "qemu-user-static" in err


def test_setup_command_exit_status_3_when_the_check_fails(monkeypatch, capsys):
    """A worker that was set up but answers the check wrongly is clifkit's fault: exit status 3,
    on which CI fails (`.ci/run`), where a failed download gives 1."""
    from clifkit.native import emulation_command

    def wrong(arch, out, force=False):
        raise emulation_packages.CheckFailed("a test function gave 1, not 2")

    monkeypatch.setattr(emulation_command, "setup", wrong)
    arch = _foreign("s390x", "aarch64")
    assert clifkit_main(["emulation", "setup", arch]) == emulation_command.CHECK_FAILED == 3
    assert "a test function gave 1, not 2" in capsys.readouterr().err


def test_skipped_runs_say_why(empty_cache, tmp_path, monkeypatch, capsys):
    """Without emulation set up, `clifkit test` skips aarch64 and s390x runs with the command to run."""
    path = tmp_path / "t.clif"
    path.write_text("test run\ntarget aarch64\ntarget s390x\ntarget riscv64\n\n"
                    "function %f() -> i32 {\nblock0:\n    v0 = iconst.i32 1\n    return v0\n}\n; run: %f() == 1\n")
    report = tmp_path / "r.json"
    clifkit_main(["test", "-j1", "--engine", "native", "--json", str(report), str(path)])
    capsys.readouterr()
    runs = {r["target"]: r for f in json.loads(report.read_text())["files"] for r in f["runs"]}
    for arch in ("aarch64", "s390x"):
        if arch != host_arch() and HAVE_CRANELIFT:
            assert runs[arch]["status"] == "skipped"
            assert f"clifkit emulation setup {arch}" in runs[arch]["message"] or "qemu" in runs[arch]["message"]
    assert runs["riscv64"]["status"] == "skipped"


@pytest.mark.skipif(not HAVE_CRANELIFT, reason="needs cranelift-py")
def test_setup_check_passes_on_a_host_worker():
    """The check `clifkit emulation setup` runs on each emulated worker, run on a worker of the
    host: it must pass wherever the worker is right, or every fresh machine's setup fails (as it
    did when the check's environment missed fields the worker had come to read)."""
    client = native_engine.WorkerClient()
    try:
        hello = emulation_setup.check_worker(client, host_arch())
    finally:
        client.close()
    assert hello["machine"] == host_arch()


def test_setup_check_environment_has_every_field_the_worker_reads():
    from clifkit.native.memory import environment_from_wire

    env = environment_from_wire(emulation_setup.smoke_environment())
    assert [(h.size, h.ptr_offset, h.bound_offset) for h in env.heaps] == [(0x100, 0, 8)]


def test_deb_unpacks_without_dpkg(tmp_path, monkeypatch):
    """Where dpkg-deb is missing, setup reads the .deb (an ar archive) itself."""
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w:gz") as tar:
        data = b"#!/bin/false\n"
        info = tarfile.TarInfo("./usr/bin/python3.11")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    members = [(b"debian-binary", b"2.0\n"), (b"control.tar.gz", b""), (b"data.tar.gz", payload.getvalue())]
    deb = bytearray(b"!<arch>\n")
    for name, body in members:
        deb += name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"100644".ljust(8)
        deb += str(len(body)).encode().ljust(10) + b"`\n" + body + (b"\n" if len(body) % 2 else b"")
    path = tmp_path / "p.deb"
    path.write_bytes(bytes(deb))
    monkeypatch.setattr(emulation_packages.shutil, "which", lambda name: None)
    emulation_packages.extract_deb(str(path), str(tmp_path / "root"))
    assert (tmp_path / "root" / "usr" / "bin" / "python3.11").read_bytes() == data


def test_per_architecture_signal_records():
    """glibc's struct sigaction differs on s390x; the ucontext offsets of pc and sp per machine."""
    from clifkit.native import faults

    s390x, generic = faults._SigActionS390x, faults._SigActionGeneric
    assert (s390x.sa_flags.offset, s390x.sa_restorer.offset, s390x.sa_mask.offset) == (12, 16, 24)
    assert (generic.sa_mask.offset, generic.sa_flags.offset, generic.sa_restorer.offset) == (8, 136, 144)
    expected = s390x if platform.machine().lower() == "s390x" else generic
    assert faults._SigAction is expected
    assert faults._UCONTEXT_PC_SP["s390x"] == (48, 176) and faults._UCONTEXT_PC_SP["aarch64"] == (440, 432)
    assert ctypes.sizeof(s390x) == ctypes.sizeof(generic)


def test_worker_reuses_a_module_for_a_variant_with_the_same_flags(monkeypatch):
    """`target aarch64` then `target aarch64 has_lse`: the binding ignores has_lse, so the file is
    not compiled twice (under emulation each compile is slow)."""
    from clifkit.native import faults
    from clifkit.native.worker import Worker

    # A worker object in this process, without what it does to a real worker process.
    monkeypatch.setattr(faults, "limit_stack", lambda: None)
    monkeypatch.setattr(faults, "prepare_fault_handling", lambda: None)
    calls = []

    class FakeModule:
        def entry(self, name):
            return 0

        def signature(self, name):
            return [], []

    def compile_module(functions, **kwargs):
        calls.append(kwargs["features"])
        return FakeModule()

    import types

    fake = types.ModuleType("clifkit_fake_lowering_for_reuse")
    fake.compile_module = compile_module
    sys.modules[fake.__name__] = fake
    try:
        w = Worker()
        w._flag_accepted = lambda triple, name, value: name == "opt_level"
        src = "test run\nfunction %f() {\nblock0:\n    return\n}\n"
        msg = {"op": "load", "source": src, "path": "f.clif", "triple": None, "compiler": fake.__name__ + ":compile_module"}
        first = w.load(dict(msg, flags={}))
        second = w.load(dict(msg, flags={"has_lse": "true"}))
        third = w.load(dict(msg, flags={"opt_level": "speed"}))
        assert first["ok"] and second["ok"] and third["ok"]
        assert second["ignored_flags"] == ["has_lse"] and first["ignored_flags"] == []
        assert calls == [{}, {"opt_level": "speed"}]
    finally:
        del sys.modules[fake.__name__]


# -- under emulation -------------------------------------------------------------------------------

# One file per architecture with the things that depend on it: byte order of memory, of vmctx
# slots and of argument and result slots (scalars, i128, vectors), heaps with guard pages and
# bounds checks, growth, trap codes, a crash that does not stop the next line, a stack overflow,
# and a feature variant that runs with the backend's defaults.
EMULATED = """test run
target {arch}
target {arch} {feature}

function %first_byte(i32) -> i8 {{
    ss0 = explicit_slot 4
block0(v0: i32):
    stack_store v0, ss0
    v1 = stack_load.i8 ss0
    return v1
}}
; run: %first_byte(0x11223344) == {first_byte}

function %explicit_order(i32) -> i8, i8 {{
    ss0 = explicit_slot 8
block0(v0: i32):
    v1 = stack_addr.i64 ss0
    store.i32 big v0, v1
    store.i32 little v0, v1+4
    v2 = load.i8 v1
    v3 = load.i8 v1+4
    return v2, v3
}}
; run: %explicit_order(0x11223344) == [0x11, 0x44]

function %wide(i128, i16x8, f64) -> i128, i16x8, f64, i8 {{
block0(v0: i128, v1: i16x8, v2: f64):
    v3 = iadd_imm v0, 1
    v4 = vconst.i16x8 [1 2 3 4 5 6 7 8]
    v5 = iadd v1, v4
    v6 = f64const 0x1.8p1
    v7 = fmul v2, v6
    v8 = extractlane v5, 0
    v9 = ireduce.i8 v8
    return v3, v5, v7, v9
}}
; run: %wide(0x0102030405060708_ffffffffffffffff, [10 20 30 40 50 60 70 0x7ff0], 0x1.0p1) == [0x0102030405060709_0000000000000000, [11 22 33 44 55 66 77 0x7ff8], 0x1.8p2, 11]

function %slots(i64 vmctx) -> i64, i8, i8 {{
block0(v0: i64):
    v1 = load.i64 v0+8
    v2 = uload8.i32 v0+8
    v3 = ireduce.i8 v2
    v4 = uload8.i32 v0+15
    v5 = ireduce.i8 v4
    return v1, v3, v5
}}
; heap: dynamic, size=0x1234, ptr=vmctx+0, bound=vmctx+8
; run: %slots() == [0x1234, {slot_byte0}, {slot_byte7}]

function %guarded(i64 vmctx, i32, i32) -> i32 {{
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    heap0 = static gv1, min 0x1000, bound 0x1_0000_0000, offset_guard 0x8000_0000, index_type i32
block0(v0: i64, v1: i32, v2: i32):
    v3 = heap_addr.i64 heap0, v1, 0, 4
    store.i32 v2, v3
    v4 = load.i32 v3
    return v4
}}
; heap: static, size=0x10000, ptr=vmctx+0, bound=vmctx+8
; run: %guarded(0xfffc, 42) == 42
; run: %guarded(0x10000, 42) == trap heap_oob
; run: %guarded(0xffff_fff0, 1) == trap heap_oob

function %checked(i64 vmctx, i64) -> i32 {{
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    gv2 = load.i64 notrap aligned gv0+8
    heap0 = dynamic gv1, min 0, bound gv2, offset_guard 0, index_type i64
block0(v0: i64, v1: i64):
    v2 = heap_load.i32 heap0 v1
    return v2
}}
; heap: dynamic, size=0x100, ptr=vmctx+0, bound=vmctx+8
; run: %checked(0xfc) == 0
; run: %checked(0xfd) == trap heap_oob
; run: %checked(-1) == trap heap_oob

function %grow(i64 vmctx, i64) -> i64, i32 {{
    fn0 = %heap_grow(i64 vmctx, i32, i64) -> i64
block0(v0: i64, v1: i64):
    v2 = iconst.i32 0
    v3 = call fn0(v0, v2, v1)
    v4 = load.i64 notrap aligned v0+8
    v5 = load.i64 notrap aligned v0
    v6 = iadd v5, v4
    v7 = iconst.i32 0x0a0b0c0d
    store v7, v6-4
    v8 = load.i32 v6-4
    return v3, v8
}}
; heap: dynamic, size=0x1000, ptr=vmctx+0, bound=vmctx+8, max=0x4000
; run: %grow(0x3000) == [0x1000, 0x0a0b0c0d]
; run: %grow(0x4000) == [-1, 0x0a0b0c0d]

function %narrow_bound(i64 vmctx, i32, i64) -> i32, i32 {{
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    gv2 = load.i32 notrap aligned gv0+8
    heap0 = dynamic gv1, bound gv2, offset_guard 0, index_type i32
    fn0 = %heap_grow(i64 vmctx, i32, i64) -> i64
block0(v0: i64, v1: i32, v2: i64):
    v3 = iconst.i32 0
    v4 = call fn0(v0, v3, v2)
    v5 = heap_load.i32 heap0 v1
    v6 = global_value.i32 gv2
    return v5, v6
}}
; heap: dynamic, size=0x100, ptr=vmctx+0, bound=vmctx+8, max=0x1000
; run: %narrow_bound(0xfc, 0) == [0, 0x100]
; run: %narrow_bound(0xfd, 0) == trap heap_oob
; run: %narrow_bound(0x10c, 0x10) == [0, 0x110]

function %narrow_table(i64 vmctx, i32) -> i32 {{
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+0
    gv2 = load.i32 notrap aligned gv0+8
    table0 = dynamic gv1, min 4, bound gv2, element_size 8, index_type i32
block0(v0: i64, v1: i32):
    v2 = table_addr.i64 table0, v1, +4
    v3 = load.i32 v2
    return v3
}}
; run: %narrow_table(3) == 0
; run: %narrow_table(4) == trap table_oob

function %traps(i32, i32) -> i32 {{
block0(v0: i32, v1: i32):
    brif v1, block1, block2
block1:
    v2 = udiv v0, v1
    return v2
block2:
    trap user7
}}
; run: %traps(7, 0) == trap user7
; run: %traps(7, 2) == 3

function %null() -> i32 {{
block0:
    v0 = iconst.i64 0
    v1 = load.i32 v0
    return v1
}}
; run: %null() == 0

function %rec(i64) -> i64 {{
    fn0 = %rec(i64) -> i64
block0(v0: i64):
    v1 = iadd_imm v0, 1
    v2 = call fn0(v1)
    return v2
}}
; run: %rec(0) == trap stk_ovf
"""

ARCH_CASES = {
    "aarch64": {"feature": "has_lse", "first_byte": "0x44", "slot_byte0": "0x34", "slot_byte7": "0"},
    "s390x": {"feature": "has_mie2", "first_byte": "0x11", "slot_byte0": "0", "slot_byte7": "0x34"},
}


def _run_json(tmp_path, capsys, *argv) -> tuple[list[dict], str]:
    report = tmp_path / "report.json"
    clifkit_main(["test", "-j1", "--engine", "native", "--json", str(report), *argv])
    out = capsys.readouterr().out
    return [r for f in json.loads(report.read_text())["files"] for r in f["runs"]], out


@pytest.mark.parametrize("arch", [pytest.param(a, marks=needs_emulation(a)) for a in ARCH_CASES])
def test_emulated_backend(arch, tmp_path, capsys):
    case = ARCH_CASES[arch]
    path = tmp_path / f"{arch}.clif"
    path.write_text(EMULATED.format(arch=arch, **case))
    runs, out = _run_json(tmp_path, capsys, str(path))
    assert {r["target"] for r in runs} == {arch, f"{arch} {case['feature']}"}
    by_line: dict = {}
    for r in runs:
        by_line.setdefault(r["line"], []).append(r)
    crash_line = next(n for n, rs in by_line.items() if rs[0]["function"] == "%null")
    for line, rs in sorted(by_line.items()):
        for r in rs:
            if line == crash_line:
                assert r["status"] == "failed" and "crashed with SIGSEGV" in r["message"], r
                assert "%null+0x" in r["message"] and f"{arch} code emulated by qemu-{arch}" in r["message"]
            else:
                assert r["status"] == "passed", (r, out)
    variant = [r for r in runs if r["target"] != arch and r["status"] == "passed"]
    assert variant and all(f"cannot set {case['feature']}" in r["message"] for r in variant)
    assert all(r["message"] == "" for r in runs if r["target"] == arch and r["status"] == "passed")


@pytest.mark.parametrize("arch", [pytest.param(a, marks=needs_emulation(a)) for a in ARCH_CASES])
def test_heap_examples_pass_emulated(arch, tmp_path, capsys):
    """examples/heaps/*.clif as `test run` files for the emulated backend: every line passes,
    out-of-bounds traps (guard pages, bounds checks, a moved heap's old range) and growth included."""
    for source in glob.glob(os.path.join(EXAMPLES, "heaps", "*.clif")):
        with open(source) as f:
            text = f"test run\ntarget {arch}\n" + re.sub(r"^(test|target) .*\n", "", f.read(), flags=re.M)
        (tmp_path / os.path.basename(source)).write_text(text)
    runs, out = _run_json(tmp_path, capsys, str(tmp_path))
    assert len(runs) >= 30 and all(r["status"] == "passed" and r["target"] == arch for r in runs), out
    assert sum(1 for r in runs if (r.get("expected") or "").startswith("trap heap_oob")) >= 8
