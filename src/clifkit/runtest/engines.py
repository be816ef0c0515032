"""The engines, in one table: name -> where the engine class lives.

`ENGINES` maps an engine's name to an instance, importing the engine's module
the first time that name is looked up, so a run of `test interpret` files never
imports the native engine. An engine whose module cannot be imported (the
native engine without its binding, say) is absent from the table.

Adding a backend: write its `Engine` (`clifkit.engine`) and add one
line to `ENGINE_PATHS`. This module imports no engine.
"""

from __future__ import annotations

import importlib

ENGINE_PATHS: dict[str, str] = {
    "interpreter": "clifkit.interpreter.engine:InterpreterEngine",
    "native": "clifkit.native.engine:NativeEngine",
}


def load_engine(path: str):
    """An instance of the engine class at `path` ("package.module:Class")."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)()


class _Engines(dict):
    """The engines by name, each loaded on the first look for it (or at the whole table).

    A name is loaded at most once, so an engine a test deletes or replaces stays so."""

    def __init__(self, paths: dict[str, str]):
        super().__init__()
        self.paths = paths
        self.tried: set[str] = set()

    def _load(self, name) -> None:
        if name in self.tried or name not in self.paths:
            return
        self.tried.add(name)
        try:
            engine = load_engine(self.paths[name])
        except ImportError:
            return  # not installed here: the engine stays absent
        super().setdefault(name, engine)

    def _load_all(self) -> None:
        for name in self.paths:
            self._load(name)

    def __getitem__(self, name):
        self._load(name)
        return super().__getitem__(name)

    def __contains__(self, name) -> bool:
        self._load(name)
        return super().__contains__(name)

    def get(self, name, default=None):
        self._load(name)
        return super().get(name, default)

    def __setitem__(self, name, engine) -> None:
        self._load(name)  # so that what is replaced (and restored, by a test's monkeypatch) is the real one
        super().__setitem__(name, engine)

    def __delitem__(self, name) -> None:
        self._load(name)  # so that the deletion sticks
        super().__delitem__(name)

    def setdefault(self, name, engine=None):
        self._load(name)
        return super().setdefault(name, engine)

    def __iter__(self):
        self._load_all()
        return super().__iter__()

    def __len__(self) -> int:
        self._load_all()
        return super().__len__()

    def keys(self):
        self._load_all()
        return super().keys()

    def values(self):
        self._load_all()
        return super().values()

    def items(self):
        self._load_all()
        return super().items()


ENGINES: dict = _Engines(ENGINE_PATHS)
