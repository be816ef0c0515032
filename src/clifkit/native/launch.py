"""The environment a worker process starts in, on the host or under emulation.

A worker imports clifkit from where this process found it, whatever Python runs it; both kinds of
worker start from this process's environment with a few variables set or removed."""

from __future__ import annotations

import os


def clifkit_source() -> str:
    """The directory clifkit is imported from (what every worker imports too)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def changed_env(changes: dict) -> dict:
    """This process's environment with `changes` made (a None value: remove the variable)."""
    env = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def worker_env(changes: dict) -> dict:
    """`changed_env`, with clifkit's source on PYTHONPATH (appended, when not already there)."""
    env = changed_env(changes)
    here = clifkit_source()
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if here not in paths:
        paths.append(here)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env
