"""Running files on a pool of processes (`clifkit test -j N`).

Files are independent, so each is one task: a worker process runs
`runner.run_one` on it and sends back its `FileResult`. Each process has a
pool of its own: the plans of an emulated architecture all run on the
process owning it, so that its emulated worker starts once (`lanes`: a file
naming two such targets runs in parts, merged here once all are in); the
files of no emulated target go to whichever process is free. The biggest
files are handed out first, so that no large file starts last and keeps one
worker busy while the others idle; the caller gets results as they
complete, tagged with the file's position, and puts them back in file order.
At the end every pool is closed at once (`shut_down`), so that the processes
close their engines' workers side by side. (`python -m benchmarks.schedule`
shows which process ran what when.)

Ctrl-C (SIGINT) may reach the whole process group or only the parent, once
or several times (`interrupts`). The parent takes it only while it waits for
results, never while one is on its way to the caller; it then sends SIGINT to
every worker itself. A worker that is running a file stops it
(`runner.run_file` marks the run line in flight as interrupted) and sends back
what the file had done; between files it takes no more files. The parent
waits a moment (`INTERRUPT_GRACE`) for those partial results (a second Ctrl-C
does not cut this short), hands them on with its KeyboardInterrupt
(``partial_results``), and stops the pool: the report is of everything that
ran. On Linux the
workers are forked, so they start at once with everything the parent has
imported (and whatever engines it registered); elsewhere they are spawned.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import deque
from typing import Any, Iterator, Optional, Sequence

from . import interrupts

# multiprocessing and concurrent.futures are imported where a pool starts, and this module where
# more than one file runs on more than one process (`runner.run_tests`).

from .lanes import Task, assign, claim, file_lanes, merge_parts, splits
from .results import FileResult, file_problem

Task3 = tuple[int, str, Optional[str]]  # (position, path, problem found by discovery)


INTERRUPT_GRACE = 5.0  # seconds the parent waits, after Ctrl-C, for the files in flight to report

_OPTIONS: Any = None  # the worker's copy of the run's Options


def _init_worker(options) -> None:
    global _OPTIONS
    # Ctrl-C stops the file being run (`runner.run_file` arms it) and, between files, only keeps the
    # worker from taking more.
    interrupts.install()
    _OPTIONS = options
    # A worker that ends normally (the pool is closed) shuts down what its engines started (the
    # native engine's worker process); atexit handlers do not run in pool workers.
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _close_engines, exitpriority=10)


def _close_engines() -> None:
    native = sys.modules.get("clifkit.native.engine")
    close = getattr(native, "close_workers", None)
    if close is not None:
        try:
            close()
        except Exception:
            pass


def _work(task: Task) -> tuple[int, Optional[FileResult]]:
    from .runner import run_one

    index, path, problem, part = task
    if interrupts.interrupted():
        return index, None  # Ctrl-C came: not run
    try:
        return index, (run_one(path, problem, _OPTIONS) if part is None else run_one(path, problem, _OPTIONS, part))
    except KeyboardInterrupt as e:  # Ctrl-C: what the file had done (`run_file` passes it on)
        return index, e.partial if isinstance(e, interrupts.Interrupted) else None
    except BaseException as e:  # SystemExit and the like: a result, never a lost worker
        return index, file_problem(path, f"internal error in clifkit test: {type(e).__name__}: {e}")


def _context():
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if sys.platform.startswith("linux") and "fork" in methods:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _usable(lane: str) -> bool:
    from ..native.emulation import emulation_problem

    return emulation_problem(lane) is None


def schedule(tasks: Sequence[Task3], options, jobs: int) -> tuple[list[list[Task]], list[Task], dict[int, int]]:
    """(per process, the tasks only it runs; the tasks any runs; the parts of each file): a file's
    plans of one emulated architecture all on one process (`lanes`), when they can be split."""
    if jobs > 1 and splits(options):
        return assign(tasks, jobs, _size, file_lanes, _usable)
    return assign(tasks, jobs, _size, lambda path: frozenset(), _usable)


def run_pool(tasks: Sequence[Task3], options, jobs: int) -> Iterator[tuple[int, FileResult]]:
    """Run `tasks` on `jobs` processes; yield (position, result) as each file completes.

    Each process takes the tasks only it runs (`schedule`), then those any may run, one at a time.
    A worker process that dies (killed, crashed) loses the files it had: they come back as errors
    saying so, and the others still run. Closing the generator early, or an exception in the
    consumer (KeyboardInterrupt), stops the workers at once; files still running are lost."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from .engines import ENGINES

    ENGINES.get("native")  # registered before the workers fork, so that they inherit it
    pinned, free, nparts = schedule(tasks, options, jobs)
    queues = [deque(p) for p in pinned]
    free_queue = deque(free)
    executors = [ProcessPoolExecutor(max_workers=1, mp_context=_context(), initializer=_init_worker,
                                     initargs=(options,)) for _ in range(jobs)]
    pending: dict = {}  # future -> (process, task)
    got: dict[int, list] = {}  # position -> [(part, result)] of the parts done
    finished = False

    def feed(k: int) -> None:
        """Give process `k` its next task (none once its pool broke: what it leaves is rerun)."""
        queue = queues[k] if queues[k] else free_queue
        if queue and k not in broken:
            task = claim(queue.popleft(), claimed)
            try:
                future = executors[k].submit(_work, task)
            except BrokenProcessPool:
                broken.add(k)
                lost.append(task)
                return
            pending[future] = (k, task)
            waiting.add(future)

    def done_part(task: Task, fr: FileResult) -> Optional[FileResult]:
        """The file's result once all its parts are in."""
        parts = got.setdefault(task[0], [])
        parts.append((task[3], fr))
        if len(parts) < nparts[task[0]]:
            return None
        del got[task[0]]
        return fr if len(parts) == 1 and task[3] is None else merge_parts(parts)

    lost: list[Task] = []
    claimed: set[int] = set()  # files of which a part was handed out (`lanes.claim`)
    broken: set[int] = set()
    waiting: set = set()
    try:
        for k in range(jobs):
            feed(k)
        handed: set = set()  # futures whose outcome the caller has (or that were lost)
        try:
            while waiting:
                # Ctrl-C raises only in this wait (at once if it came while the caller was busy):
                # never while a result is on its way to the caller.
                with interrupts.armed():
                    done, _ = wait(waiting, return_when=FIRST_COMPLETED)
                waiting -= done
                for future in sorted(done, key=lambda f: pending[f][1][0]):
                    k, task = pending[future]
                    handed.add(future)
                    feed(k)
                    try:
                        index, fr = future.result()
                    except BrokenProcessPool:
                        lost.append(task)
                        continue
                    if fr is None:
                        lost.append(task)  # its worker had seen a Ctrl-C of its own: run it again
                        continue
                    whole = done_part(task, fr)
                    if whole is not None:
                        yield index, whole
            # What broken pools left: their own tasks (and the shared ones, when all broke).
            lost += [claim(task, claimed) for queue in [*queues, free_queue] for task in queue]
            if lost:
                # A pool broke: rerun what it lost, one process per task, so that only the file
                # that kills its process is reported as such.
                for task in sorted(lost, key=lambda t: t[0]):
                    index, fr = _run_alone(task, options)
                    whole = done_part(task, fr)
                    if whole is not None:
                        yield index, whole
        except KeyboardInterrupt as e:
            if isinstance(e, interrupts.Interrupted) and e.partial_results is not None:
                raise
            drained = []
            for k, executor in enumerate(executors):
                drained += _drain(executor, [f for f in pending if f not in handed and pending[f][0] == k],
                                  {f: pending[f][1] for f in pending})
            raise interrupts.Interrupted(partial_results=_partials(drained, got)) from e
        finished = True
    finally:
        if finished:
            shut_down(executors)
        else:
            for executor in executors:
                _terminate(executor)


def shut_down(executors: Sequence) -> None:
    """Close every pool at once and wait for all: each process closes its engines' workers as it
    exits (an emulated one takes a moment to end), side by side rather than one pool after the
    other, at the end of the run when nothing else is left to do."""
    import threading

    closing = [threading.Thread(target=executor.shutdown, kwargs={"wait": True}) for executor in executors]
    for thread in closing:
        thread.start()
    for thread in closing:
        thread.join()


def _partials(drained: list, got: dict) -> list[tuple[int, FileResult]]:
    """After Ctrl-C: each file of which some part came back, as far as its parts go."""
    for task, fr in drained:
        got.setdefault(task[0], []).append((task[3], fr))
    out = []
    for index, parts in sorted(got.items()):
        if not any(part is None or part.primary for part, _ in parts):
            parts = [(None, FileResult(parts[0][1].path))] + parts  # the primary never answered
        out.append((index, merge_parts(parts) if len(parts) > 1 or parts[0][0] is not None else parts[0][1]))
    return out


def _drain(executor: ProcessPoolExecutor, futures: list, tasks: dict) -> list[tuple[Task, FileResult]]:
    """After Ctrl-C: make sure every worker has seen it, and collect, for a moment, what the tasks
    in flight had done (`tasks`: each future's)."""
    from concurrent.futures import wait

    for future in futures:
        future.cancel()  # not started: never will be
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        try:
            os.kill(process.pid, signal.SIGINT)
        except (OSError, AttributeError):
            pass
    done, _ = wait([f for f in futures if not f.cancelled()], timeout=INTERRUPT_GRACE)
    out = []
    for future in done:
        try:
            _, fr = future.result()
        except BaseException:
            continue
        if fr is not None:
            out.append((tasks[future], fr))
    return sorted(out, key=lambda x: x[0][0])


def _run_alone(task: Task, options) -> tuple[int, FileResult]:
    from concurrent.futures import ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    index, path = task[:2]
    one = ProcessPoolExecutor(max_workers=1, mp_context=_context(), initializer=_init_worker, initargs=(options,))
    try:
        future = one.submit(_work, task)
        try:
            with interrupts.armed():
                wait([future])
        except KeyboardInterrupt as e:
            drained = _drain(one, [future], {future: task})
            _terminate(one)
            raise interrupts.Interrupted(partial_results=_partials(drained, {})) from e
        try:
            _, fr = future.result()
        except BrokenProcessPool:
            fr = None
        if fr is None:
            fr = file_problem(path, "internal error: the process running this file died "
                                    "(killed, or a crash in native code)")
        return index, fr
    finally:
        one.shutdown(wait=True)


def _terminate(executor: ProcessPoolExecutor) -> None:
    """Stop the workers now, mid-file (Python 3.14 has `kill_workers`; before, the processes are
    at hand all the same). By SIGKILL: a worker takes SIGTERM as Ctrl-C (`interrupts.install`),
    and ignores it once it has seen Ctrl-C, as it has by now."""
    kill = getattr(executor, "kill_workers", None)
    if kill is not None:
        try:
            kill()
            return
        except Exception:
            pass
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        try:
            process.kill()
        except Exception:
            pass
    for process in processes:
        process.join(timeout=5)
