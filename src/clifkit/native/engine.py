"""The native engine: `test run` files compiled with Cranelift and run as machine code.

`NativeEngine.open` checks that the host can run the file's target (its own
architecture natively; aarch64 and s390x on an x86-64 host under QEMU
user-mode emulation once ``clifkit emulation setup`` prepared it, see
`clifkit.native.emulation`; anything else, and Pulley, is skipped with the
reason), sends the file's text and the target's flags to the worker
(`clifkit.native.worker`, a separate process shared by every file of a run
and architecture; for an emulated architecture, the same worker run by an
emulated Python of that architecture) which compiles every function once,
and returns a session. The session sends run lines to the worker in batches
(`call_batch`: one round trip for all the run lines of a file and target)
and turns the worker's answers into `Returned`, `Trapped`, `Crashed`,
`Skipped` or `Failed` outcomes.

Flags: ``set`` lines before a target and the target's own words are passed
to the worker, which hands Cranelift the ones the binding accepts (shared
settings such as ``opt_level``). ISA feature flags (``has_avx``, ``sse41``)
cannot be set through ``cranelift-py`` 0.1.0, which compiles with Cranelift's
default features for the architecture (as Cranelift's own ``test run`` does
for a bare ``target x86_64``): such a variant runs with those, and its runs
say so in their message.

A worker that dies (never the compiled code: that runs in the worker's
executor, `supervisor.py`) is replaced, the file is loaded again, and the run goes on.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import pickle
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Optional, Sequence

from ..ir.function import TestFile
from ..engine import (
    Crashed,
    Engine,
    EngineOptions,
    EngineUnavailable,
    Failed,
    Lost,
    Returned,
    Session,
    Skipped,
    TimedOut,
    Trapped,
)
from . import protocol
from .host import host_arch
from .launch import worker_env
from .memory import environment_to_wire

DEFAULT_TIMEOUT = 60.0  # seconds a single call may run before its child is killed
COMPILE_TIMEOUT = 300.0  # seconds the worker may take to compile one file
PULLEY_ARCHES = ("pulley32", "pulley64", "pulley32be", "pulley64be")


def missing_requirements(compiler: Optional[str] = None) -> Optional[str]:
    """Why native runs cannot happen in this installation, or None. An installation found
    complete is remembered (a fuzz campaign opens a session per module: two `find_spec` path
    searches each); one found lacking is asked again, since the package may be installed since."""
    global _found_complete_by
    if compiler is None:
        if _found_complete_by is importlib.util.find_spec:  # (tests replace find_spec: asked again then)
            return None
        if importlib.util.find_spec("cranelift") is None:
            return "the native engine needs the cranelift-py binding (pip install cranelift-py==0.1.0), which is not installed"
        if importlib.util.find_spec("clifkit.native.lower") is None:
            return "the native engine's lowering (clifkit.native.lower) is not available in this clifkit"
        _found_complete_by = importlib.util.find_spec
    return None


_found_complete_by = None  # the `find_spec` that found the installation complete


# -- targets ---------------------------------------------------------------------------------------


@dataclass
class TargetSpec:
    text: Optional[str]  # as written after `target`, or None: the host
    arch: str
    isa_flags: dict  # name -> value text ("true" for a bare name)
    settings: dict  # from the `set` lines before the target


def _flag(word: str) -> tuple[str, str]:
    name, eq, value = word.partition("=")
    return name.strip(), (value.strip() if eq else "true")


def target_spec(tf: TestFile, target: Optional[str]) -> TargetSpec:
    """The target `target` (its text) of file `tf` with the settings its `set` lines give it."""
    settings: dict = {}
    for spec in tf.isa_specs:
        if spec.kind == "set":
            for word in spec.words:
                name, value = _flag(word)
                settings[name] = value
        elif spec.kind == "target" and spec.words and " ".join(spec.words) == target:
            flags = dict(_flag(w) for w in spec.words[1:])
            return TargetSpec(target, spec.words[0], flags, dict(settings))
    if target is None:
        return TargetSpec(None, host_arch(), {}, settings)
    words = target.split()
    return TargetSpec(target, words[0], dict(_flag(w) for w in words[1:]), settings)


def host_cannot_run(spec: TargetSpec) -> Optional[str]:
    """Why this host cannot run code for `spec` (natively, or under QEMU emulation when it is set
    up: `clifkit.native.emulation`), or None."""
    host = host_arch()
    if spec.arch in PULLEY_ARCHES:
        return f"{spec.arch} code runs on the Pulley interpreter, which clifkit does not run"
    arch = spec_arch(spec)
    if arch != host:
        from .emulation import emulation_problem

        why = emulation_problem(arch)
        if why is not None:
            return f"the host ({host}) cannot run {arch} code: {why}"
    if spec.settings.get("enable_pinned_reg") == "true":
        return "Cranelift cannot run run tests with enable_pinned_reg"
    return None


def spec_arch(spec: TargetSpec) -> str:
    """The architecture of a target (``aarch64`` of ``aarch64-unknown-linux-gnu``)."""
    arch = spec.arch.split("-")[0]
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)


# Where a file is lowered: "host" (here, then replayed in the worker: `replay.py`), "worker", or
# unset: here for emulated workers only (on the host the worker's own lowering is as fast).
LOWER_ENV = "CLIFKIT_NATIVE_LOWER"

# -- the worker process ------------------------------------------------------------------------------


class WorkerDied(Exception):
    """The worker process ended or stopped answering."""


class WorkerClient:
    """One worker process, started on first use and replaced when it dies."""

    def __init__(self, command: Optional[Sequence[str]] = None, env: Optional[dict] = None):
        self.command = list(command) if command else [sys.executable, "-m", "clifkit.native.worker"]
        self.extra_env = dict(env or {})
        self.proc: Optional[subprocess.Popen] = None
        self.generation = 0  # bumped at every (re)start: sessions reload their file when it changes
        self.loaded: Optional[object] = None  # the session whose file the worker holds
        self._stderr = None
        self.info: dict = {}
        self.lowered: Optional[tuple] = None  # (key, payload) of the last lowering done for it here
        self.owner_pid = os.getpid()

    def start(self) -> None:
        self._stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                env=worker_env(self.extra_env), close_fds=True,
            )
        except OSError as e:  # e.g. an emulator that was set up and has since been removed
            self._stderr.close()
            self._stderr = None
            raise WorkerDied(f"the native worker cannot start ({self.command[0]}): {e.strerror or e}") from None
        self.generation += 1
        self.loaded = None
        self.info = self.request({"op": "hello"}, timeout=120.0)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def request(self, msg: dict, timeout: Optional[float] = None) -> dict:
        if not self.alive:
            self.start()
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        try:
            protocol.send(self.proc.stdin.fileno(), msg)
        except OSError:
            # It died before it could read this request (between two requests): it never saw it,
            # so a fresh worker can take it.
            self._obituary("died")
            self.start()
            protocol.send(self.proc.stdin.fileno(), msg)
        try:
            return protocol.recv(self.proc.stdout.fileno(), timeout)
        except (OSError, protocol.ProtocolError) as e:
            why = "stopped answering" if isinstance(e, protocol.Timeout) else "died"
            raise WorkerDied(self._obituary(why)) from None
        except BaseException:
            # Interrupted while waiting (Ctrl-C): the reply would stay in the pipe and be taken
            # for the answer to the next request, so this worker cannot be used again.
            self._obituary("was interrupted")
            raise

    def _obituary(self, why: str) -> str:
        proc = self.proc
        status = None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            try:
                status = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        tail = ""
        if self._stderr is not None:
            try:
                self._stderr.seek(0)
                text = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
                tail = text[-1] if text else ""
            except OSError:
                pass
            self._stderr.close()
            self._stderr = None
        self.proc = None
        self.loaded = None
        if status is not None and status < 0:
            status_text = f"killed by signal {-status}"
        else:
            status_text = f"exit status {status}"
        return f"the native worker {why} ({status_text})" + (f": {tail}" if tail else "")

    def abandon(self) -> None:
        """In a forked copy of the process that started the worker: let go of the inherited pipes
        without touching the worker, which still belongs to the parent."""
        proc, self.proc = self.proc, None
        if proc is not None:
            for f in (proc.stdin, proc.stdout):
                try:
                    if f is not None:
                        f.close()
                except OSError:
                    pass
            proc.returncode = 0  # not ours to wait for
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None and proc.stdin is not None:
                protocol.send(proc.stdin.fileno(), {"op": "quit"})
                proc.stdin.close()
                proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None


_CLIENTS: dict = {}


def shared_client(command: Optional[Sequence[str]] = None, env: Optional[dict] = None) -> WorkerClient:
    key = (tuple(command or ()), tuple(sorted((env or {}).items())))
    client = _CLIENTS.get(key)
    if client is not None and client.owner_pid != os.getpid():
        client.abandon()  # inherited through fork (clifkit test -j): start a worker of our own
        client = None
    if client is None:
        client = _CLIENTS[key] = WorkerClient(command, env)
    return client


@atexit.register
def close_workers() -> None:
    for client in list(_CLIENTS.values()):
        if client.owner_pid == os.getpid():
            client.close()
        else:
            client.abandon()
    _CLIENTS.clear()


# -- the engine -----------------------------------------------------------------------------------


class NativeEngine(Engine):
    name = "native"
    loads_ir = True  # `open` takes the file's functions as IR (`functions=`), sent to the worker pickled

    def __init__(self, compiler: Optional[str] = None, worker_command: Optional[Sequence[str]] = None,
                 worker_env: Optional[dict] = None, isolation: Optional[str] = None):
        self.compiler = compiler  # "module:function" instead of clifkit.native.lower (tests)
        self.worker_command = worker_command
        self.worker_env = worker_env
        # "batch": a file's run lines run one after another in the worker's executor, which a
        # crash ends (the default); "call": a child per run line. CLIFKIT_NATIVE_ISOLATION
        # overrides the default.
        self.isolation = isolation or os.environ.get("CLIFKIT_NATIVE_ISOLATION") or "batch"

    def open(self, test_file: TestFile, options: EngineOptions, target: Optional[str] = None,
             source: Optional[str] = None, functions: Optional[list] = None, lower_here: bool = True) -> Session:
        """`functions`: the file's functions as clifkit IR, which the worker then compiles instead
        of reading `source` (the fuzzer, whose programs are generated as IR, saves the worker's
        parse); `source` still names what they print as."""
        missing = missing_requirements(self.compiler)
        if missing is not None:
            raise EngineUnavailable(missing)
        spec = target_spec(test_file, target)
        why = host_cannot_run(spec)
        if why is not None:
            raise EngineUnavailable(why)
        if source is None:
            source = _source_of(test_file)
        arch = spec_arch(spec)
        emulated = None
        if arch != host_arch():
            from .emulation import worker_command

            command, env = worker_command(arch)
            client = shared_client(command, env)
            emulated = f"{arch} code emulated by {os.path.basename(command[0])}"
        else:
            client = shared_client(self.worker_command, self.worker_env)
        session = NativeSession(client, test_file, spec, source, options, self)
        session.ir = functions
        session.emulated = emulated
        session.lower_here = lower_here
        session.load()
        return session


    def inspect(self, test_file: TestFile, options: EngineOptions, target: Optional[str] = None,
                source: Optional[str] = None, *, code: bool = True, listing: bool = False) -> list[dict]:
        """Compile the file for `target` in its worker (on the host, or emulated) and return, per
        function, what `clifkit compile` and `clifkit lower` show: ``{"name", "target", "size",
        "code", "listing", "decisions"}``, or ``{"name", "error"}``."""
        session = self.open(test_file, options, target, source, lower_here=False)
        if session.load_error is not None:
            raise EngineUnavailable(session.load_error.message)
        reply = session.client.request({"op": "inspect", "code": code, "listing": listing}, timeout=COMPILE_TIMEOUT)
        if not reply.get("ok"):
            raise EngineUnavailable(f"the worker could not show the code: {reply.get('message')}")
        arch = spec_arch(session.spec)
        return [dict(found, name=name, target=arch) for name, found in reply["functions"].items()]

    def compile(self, test_file: TestFile, options: EngineOptions, target: Optional[str] = None,
                source: Optional[str] = None) -> list[dict]:
        """Each function's machine code, for `clifkit compile` (see `inspect`)."""
        return self.inspect(test_file, options, target, source, code=True)

    def lower(self, test_file: TestFile, options: EngineOptions, target: Optional[str] = None,
              source: Optional[str] = None) -> list[dict]:
        """Each function as clifkit hands it to Cranelift, for `clifkit lower` (see `inspect`)."""
        return self.inspect(test_file, options, target, source, code=False, listing=True)


def _source_of(tf: TestFile) -> str:
    """The text the worker compiles: what the reader read when it read the whole file, else the
    file (a segment's text starts mid-file), else the file printed from its IR."""
    if tf.source is not None and tf.first_line == 1:
        return tf.source
    try:
        with open(tf.path, encoding="utf-8-sig") as f:
            return f.read()
    except (OSError, UnicodeDecodeError, TypeError):
        from ..printer import format_test_file

        return format_test_file(tf)


class NativeSession(Session):
    engine = "native"

    def __init__(self, client: WorkerClient, tf: TestFile, spec: TargetSpec, source: str,
                 options: EngineOptions, engine: NativeEngine):
        self.client = client
        self.tf = tf
        self.spec = spec
        self.target = spec.text
        self.source = source
        self.options = options
        self.engine_obj = engine
        self.timeout = options.timeout or DEFAULT_TIMEOUT
        self.note: Optional[str] = None
        self.functions: dict = {}
        self.load_error: Optional[object] = None
        self.generation = -1
        self.compile_seconds = 0.0
        self._fetched: dict = {}  # id(bound run) -> (bound run, outcome), from prefetch
        self.emulated: Optional[str] = None  # how the code runs, when emulated ("aarch64 code emulated by ...")
        self.ir: Optional[list] = None  # the functions as IR, sent instead of having `source` read
        # Lower here for an emulated worker (`replay.py`); `inspect` (clifkit compile, lower) has
        # the worker lower, since it shows the lowering again from the IR.
        self.lower_here = True

    def _load_message(self) -> dict:
        flags = dict(self.spec.settings)
        flags.update(self.options.settings)
        flags.update(self.spec.isa_flags)
        msg = {"op": "load", "path": self.tf.path, "source": self.source, "triple": None, "flags": flags}
        lowered = self._lowered() if self._lowers_here() else None
        bulk = {}
        if lowered is not None:
            bulk["lowered"] = lowered  # then the worker needs neither the IR nor to read the text
            msg["from_ir"] = self.ir is not None  # `source` does not say what was lowered
        elif self.ir is not None:
            bulk["functions"] = self.ir
        if bulk:  # pickled apart: the worker's supervisor passes it to its executor unread
            msg["payload"] = pickle.dumps(bulk, protocol=protocol.PICKLE_PROTOCOL)
        if self.engine_obj.compiler:
            msg["compiler"] = self.engine_obj.compiler
        return msg

    def _lowers_here(self) -> bool:
        """Lower here, not in the worker: for an emulated worker (`LOWER_ENV` may say ``host`` to
        do it for every worker, ``worker`` for none)."""
        if self.engine_obj.compiler or not self.lower_here:
            return False
        where = os.environ.get(LOWER_ENV, "")
        return where == "host" or (where != "worker" and self.emulated is not None)

    def _lowered(self) -> Optional[dict]:
        """The file lowered here for the emulated worker (`replay.py`): its Python lowering would
        run emulated there, many times slower. None when this worker cannot take it."""
        if not self.client.alive:
            self.client.start()
        info = self.client.info
        if "host_symbols" not in info or "triple" not in info:
            return None
        # A target variant of the same file (`target aarch64 has_lse`) loads the same lowering.
        key = (self.client.generation, self.source, self.tf.path) if self.ir is None else None
        cached = self.client.lowered
        if key is not None and cached is not None and cached[0] == key:
            return cached[1]
        from .replay import lower_for_worker

        functions = self.ir if self.ir is not None else [d.function for d in self.tf.functions]
        lowered = lower_for_worker(functions, info, info["triple"])
        self.client.lowered = (key, lowered) if key is not None else None
        return lowered

    def load(self) -> None:
        """Have the worker compile this file (again, after the worker was replaced)."""
        try:
            reply = self.client.request(self._load_message(), timeout=COMPILE_TIMEOUT)
        except WorkerDied as e:
            # One more try on a fresh worker: the death may have been another file's doing.
            try:
                reply = self.client.request(self._load_message(), timeout=COMPILE_TIMEOUT)
            except WorkerDied:
                self.load_error = Failed(f"{e} while compiling the file", internal=True)
                return
        self.generation = self.client.generation
        self.client.loaded = self
        if not reply.get("ok"):
            if reply.get("kind") == "unsupported":
                why = f"cannot compile natively: {reply.get('message')}"
                self.load_error = Skipped(why)
                raise EngineUnavailable(why)
            self.load_error = Failed(f"native compilation failed: {reply.get('message')}", internal=True)
            return
        self.load_error = None
        self.functions = reply.get("functions", {})
        self.compile_seconds = reply.get("seconds", 0.0)
        ignored = reply.get("ignored_flags") or []
        isa = [f for f in ignored if _flag(f)[0] in self.spec.isa_flags]
        other = [f for f in ignored if f not in isa]
        notes = []
        if isa:
            notes.append(f"compiled with cranelift-py's default {self.spec.arch} features: it cannot set {', '.join(isa)}")
        if other:
            notes.append(f"setting{'s' if len(other) > 1 else ''} ignored by cranelift-py: {', '.join(other)}")
        self.note = "; ".join(notes) or None

    def _ensure_loaded(self) -> None:
        if self.client.generation != self.generation or self.client.loaded is not self or not self.client.alive:
            try:
                self.load()
            except EngineUnavailable:
                pass  # load_error says why

    def prefetch(self, calls: Sequence[tuple]) -> None:
        """Run `calls` now, in one round trip; `call` answers them from the results."""
        calls = [(b, e) for b, e in calls if b is not None and id(b) not in self._fetched]
        if not calls:
            return
        for (bound, env), outcome in zip(calls, self.call_batch(calls)):
            self._fetched[id(bound)] = (bound, outcome)

    def call(self, bound, env: object = None):
        found = self._fetched.pop(id(bound), None)
        if found is not None and found[0] is bound:
            return found[1]
        return self.call_batch([(bound, env)])[0]

    def call_batch(self, calls: Sequence[tuple]) -> list:
        if not calls:
            return []
        self._ensure_loaded()
        if self.load_error is not None:
            return [self.load_error for _ in calls]
        requests = []
        # A program's run lines share one environment (the fuzzer's do): its wire form is made
        # once and sent once (pickle writes a shared object once), and the worker reads it once.
        wires: dict = {}  # id(environment) -> its wire form (the environments live as long as `calls`)
        for bound, env in calls:
            wire = None
            if env is not None:
                wire = wires.get(id(env))
                if wire is None:
                    wire = wires[id(env)] = environment_to_wire(env)
            requests.append({
                "function": bound.function.name,
                "args": list(bound.args),
                "env": wire,
                "line": bound.command.line,
            })
        msg = {"op": "run", "requests": requests, "timeout": self.timeout, "isolation": self.engine_obj.isolation}
        try:
            reply = self.client.request(msg, timeout=self.timeout * len(requests) + 60.0)
        except WorkerDied as e:
            # Compiled code never runs in the worker itself, so this is the worker's own end (out
            # of memory, killed): once more on a fresh worker, each call in a child of its own.
            self._ensure_loaded()
            if self.load_error is not None:
                return [self.load_error for _ in calls]
            try:
                reply = self.client.request(dict(msg, isolation="call"), timeout=self.timeout * len(requests) + 60.0)
            except WorkerDied:
                # Lost: the harness runs each call once more alone, so only a call that kills its
                # worker again is reported (as this message).
                what = "this run line" if len(calls) == 1 else f"a batch of {len(calls)} run lines"
                return [Lost(f"{e} while running {what}", internal=True) for _ in calls]
        if not reply.get("ok"):
            message = reply.get("message", "the worker refused the run")
            return [Failed(f"internal error: {message}", internal=True) for _ in calls]
        return [self._outcome(result, bound) for result, (bound, _env) in zip(reply["results"], calls)]

    def _outcome(self, result: Optional[dict], bound):
        name = bound.function.name
        line = bound.command.line
        # (A `Program.call` has no run line: line 0.)
        run_line = f"run line {line}" if line > 0 else ""
        if result is None:
            return Failed("internal error: the worker gave no result for this run line", internal=True)
        kind = result.get("kind")
        if kind == "returned":
            return Returned(list(result["values"]))
        if kind == "trapped":
            return Trapped(result["code"], result.get("detail", ""))
        if kind == "skipped":
            reason = result.get("reason", "")
            return Skipped(f"{reason} ({self.note})" if self.note else reason)
        if kind == "timeout":
            return TimedOut(f"timed out: {name} ran longer than {result.get('seconds')} s and was killed"
                            + (f" ({run_line})" if run_line else ""),
                            seconds=result.get("seconds"))
        if kind == "crashed":
            parts = [f"crashed with {result.get('signame') or 'a crash'}"]
            if result.get("address") is not None:
                parts.append(f"at address 0x{result['address']:x}")
            if result.get("detail"):
                parts.append(f"({result['detail']})")
            if result.get("pc") is not None:
                where = f" ({result['where']})" if result.get("where") else ""
                parts.append(f"pc 0x{result['pc']:x}{where}")
            parts.append(f"in {name}, {run_line}" if run_line else f"in {name}")
            if self.emulated:
                parts.append(f"({self.emulated})")
            return Crashed(" ".join(parts), signal=result.get("signame"), address=result.get("address"),
                           pc=result.get("pc"), function=name, line=line)
        return Failed(f"internal error in the native worker: {result.get('message', result)}", internal=True)


