"""The native worker's process layout: a supervisor that never compiles, and one executor.

The worker process (`worker.main`) is a supervisor. The first request that
needs compiled code forks an *executor* from it, which compiles every module
(`Worker.load`) and runs every batch of run requests in itself, one request
after another (`Worker.run_here`), for as long as it lives. Before, each
batch ran in a child forked from a worker that held the module: under QEMU a
child cost some 17 ms of CPU beyond its requests (the fork and exit of an
emulator process, and a copy of every page the child wrote to: the
emulator's translations, Python's reference counts), as much again as the
requests themselves on most corpus files.

What a child did for isolation the executor does the same way: compiled code
runs with the fault handlers installed (`faults.py`), a trap or a fault jumps
back into the trampoline (`recover.py`) and the executor goes on with its
next request; after a crash (or a trap where nothing jumps back) it writes
that request's result and ends, as a child did. The supervisor reads the
results one at a time with the run's timeout; when the executor ends, is
killed at a timeout or dies without a word, it says so for the request it
was running (`faults.death`), forks a new executor, has it compile the module
again and sends it the rest of the batch. So a request sees the same results
as before, and the supervisor, which runs no compiled code, outlives them.

``isolation="call"`` still gives every request a child of its own: the
executor forks it, from itself (`Worker.run`). After the executor ended in a
batch, the new one runs the rest of that batch in a forked child (and, after a
further crash, the rest in another), as the worker did before executors: one
compile of the module again per batch, not one per crash.

Protocol between them: the supervisor sends the harness's messages on
(`protocol.py`); the executor answers a load or an inspect with one reply, and
a batch with `protocol.BATCH_READY` once it has compiled the batch's trampolines and reserved
its mappings (the supervisor times the requests from there, not the setting up), then one
``(index, result)`` message per request (indices into the
requests it was sent), then ``(None, None)``, or ``(None, message)`` when it
could not run the batch at all.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Optional

from . import faults
from .protocol import BATCH_READY, ChannelClosed, ProtocolError, Reader, Timeout, recv, send

# An executor retires before its next load when it holds more than this much memory, or has
# compiled this many modules: compiled code is never freed, and each module keeps mappings of its
# own (the kernel allows a process some 65,000).
EXECUTOR_MAX_RSS = 1 << 30
EXECUTOR_MAX_LOADS = 1000

# The isolation of the rest of a batch after its executor ended: the new executor runs it in a
# forked child, and the rest after a crash in another (`Worker.run`, which takes any isolation but
# "call" so).
FORKED = "forked"


class Supervisor:
    """Answers the harness's messages (`Worker.handle`'s), forwarding the compiling and running
    to the executor it keeps."""

    def __init__(self, worker, private_fds: tuple = ()) -> None:
        self.worker = worker  # never loads a module: each executor starts from it as it is
        self.private_fds = private_fds  # the supervisor's own (the harness's pipes): closed in an executor
        self.pid: Optional[int] = None
        self.to = -1  # the executor's requests
        self.answers: Optional[Reader] = None
        self.load_msg: Optional[dict] = None  # the module the harness has loaded last
        self.loaded = False  # whether the executor alive now holds it
        self.loads = 0  # modules the executor alive now has compiled

    def handle(self, msg: dict) -> Optional[dict]:
        op = msg.get("op")
        if op == "hello":
            return self.worker.hello()
        if op == "load":
            return self.load(msg)
        if op == "run":
            return self.run(msg.get("requests", []), msg.get("timeout"), msg.get("isolation", "batch"))
        if op == "inspect":
            problem = self._ready()
            return problem or self._exchange(msg) or _ended("inspecting the module")
        return {"ok": False, "kind": "error", "message": f"unknown request {op!r}"}

    def close(self) -> None:
        if self.pid is not None:
            self._stop(kill=True)

    # -- the executor ----------------------------------------------------------------------------

    def _start(self) -> None:
        requests_r, requests_w = os.pipe()
        answers_r, answers_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                for fd in (requests_w, answers_r, *self.private_fds):
                    os.close(fd)
                serve(self.worker, requests_r, answers_w)
            finally:
                os._exit(0)
        os.close(requests_r)
        os.close(answers_w)
        self.pid, self.to, self.answers = pid, requests_w, Reader(answers_r)
        self.loaded = False
        self.loads = 0

    def _stop(self, kill: bool = False) -> int:
        """End the executor (it may be gone already): its wait status."""
        pid = self.pid
        if kill:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status = os.waitpid(pid, 0)
        self._forget()
        return status

    def _forget(self) -> None:
        self.pid = None
        self.loaded = False
        for fd in (self.to, self.answers.fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def _exchange(self, msg: dict) -> Optional[dict]:
        """Send `msg` and read the executor's one reply; None when it ended instead."""
        try:
            send(self.to, msg)
            reply = self.answers.recv()
        except (ChannelClosed, ProtocolError, OSError):
            reply = None
        if not isinstance(reply, dict):  # (a fault handler's record: the executor crashed)
            self._stop(kill=True)
            return None
        return reply

    def _rss(self) -> int:
        try:
            with open(f"/proc/{self.pid}/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return 0

    def load(self, msg: dict) -> dict:
        if self.pid is not None and not self._gone() and (self.loads >= EXECUTOR_MAX_LOADS
                                                           or self._rss() > EXECUTOR_MAX_RSS):
            self._stop(kill=True)
        if self.pid is None:
            self.worker.preload(msg)  # (once here: every executor forked from now on has it)
            self._start()
        self.load_msg = msg
        self.loads += 1
        reply = self._exchange(msg)
        if reply is None:
            return _ended("compiling")
        self.loaded = True
        return reply

    def _gone(self) -> bool:
        """Whether the executor ended while it had nothing to do (killed from outside, say): then
        nothing it was running is to blame."""
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid = self.pid
        if pid == 0:
            return False
        self._forget()
        return True

    def _ready(self) -> Optional[dict]:
        """Make sure an executor holding the last module is alive: None, or why not (a reply)."""
        if self.pid is not None and not self._gone() and self.loaded:
            return None
        if self.pid is None:
            self._start()
        if self.load_msg is None:
            self.loaded = True  # nothing loaded yet: the executor answers as an empty worker
            return None
        self.loads += 1
        reply = self._exchange(self.load_msg)
        if reply is None:
            return _ended("compiling the module again")
        self.loaded = True
        return None if reply.get("ok") else reply

    # -- running ----------------------------------------------------------------------------------

    def run(self, requests: list, timeout: Optional[float], isolation: str) -> dict:
        if isolation == "call":  # a child per request, forked by the executor
            problem = self._ready()
            msg = {"op": "run", "requests": requests, "timeout": timeout, "isolation": "call"}
            return problem or self._exchange(msg) or _ended("running")
        results: list = [None] * len(requests)
        processes = 0
        i = 0
        while i < len(requests):
            problem = self._ready()
            if problem is not None:
                _fail_rest(results, i, problem.get("message", "the module did not load"))
                break
            if i == 0:
                processes += 1
                i = self._run_from(requests, i, results, timeout)
                continue
            # The executor ended in this batch and a new one has compiled the module again: it runs
            # the rest in forked children (`Worker.run`), so that each further crash or timeout
            # costs a fork, as before the executor, not another compile of the module.
            reply = self._exchange({"op": "run", "requests": requests[i:], "timeout": timeout, "isolation": FORKED})
            if reply is not None and reply.get("ok"):
                results[i:] = reply["results"]
            else:
                _fail_rest(results, i, (reply or _ended("running")).get("message", "the worker refused the run"))
            processes += (reply or {}).get("children", 0)
            break
        return {"ok": True, "results": results, "children": processes}

    def _run_from(self, requests: list, start: int, results: list, timeout: Optional[float]) -> int:
        """Have the executor run requests[start:]; the index of the first request left unanswered
        (the executor is then gone)."""
        try:
            send(self.to, {"op": "run", "requests": requests[start:], "timeout": timeout, "isolation": "batch"})
        except OSError:
            pass  # it is gone: read its end below
        answered = start
        reported_end = False  # the executor said why it stops (a crash, or a trap without `recover`)
        last = None
        ready = False  # the executor has set the batch up: from then on each request is timed
        while True:
            try:
                index, result = self.answers.recv(timeout if ready else None)
                if (index, result) == BATCH_READY:
                    ready = True
                    continue
            except Timeout:
                self._stop(kill=True)
                results[answered] = {"kind": "timeout", "seconds": timeout}
                return answered + 1
            except (ChannelClosed, ProtocolError, OSError, TypeError, ValueError):
                status = self._stop(kill=True)
                break
            if index == faults.SETTING_UP:  # it crashed compiling the batch's trampolines or reserving memory
                self._stop(kill=True)
                what = result.get("signame") or result.get("message") or result.get("kind")
                _fail_rest(results, answered, f"the worker crashed while setting the batch up ({what})")
                return len(requests)
            if index is None:
                if result is not None:  # it could not run the batch
                    _fail_rest(results, answered, f"the worker could not run the call: {result}")
                return len(requests)
            results[start + index] = result
            answered = start + index + 1
            last = result["kind"]
            if last not in faults.goes_on():
                reported_end = True
                status = self._stop()
                break
        return faults.blame_end(results, answered, len(requests), status, last, reported_end)


def _fail_rest(results: list, start: int, message: str) -> None:
    """Each request from `start` on gets the error `message` (its batch could not run)."""
    for k in range(start, len(results)):
        results[k] = {"kind": "error", "message": message}


def _ended(what: str) -> dict:
    return {"ok": False, "kind": "error", "message": f"the worker's executor ended while {what}"}


def serve(worker, requests_fd: int, answers_fd: int) -> None:
    """The executor: compile and run what the supervisor sends, until it closes the pipe."""
    from .worker import _one_line

    worker.run_code_here(answers_fd)
    worker.freezes = True
    while True:
        try:
            msg = recv(requests_fd)
        except (ChannelClosed, ProtocolError):
            return
        if not isinstance(msg, dict) or msg.get("op") == "quit":
            return
        if msg.get("op") == "run" and msg.get("isolation", "batch") == "batch":
            try:
                worker.run_here(msg.get("requests", []), answers_fd)
            except Exception as e:
                send(answers_fd, (None, _one_line(e)))
            continue
        try:
            reply = worker.handle(msg)
        except Exception as e:
            reply = {"ok": False, "kind": "error", "message": f"internal error in the worker: {_one_line(e)}"}
        send(answers_fd, reply)
