"""A small registry of named implementations, loaded lazily from 'module:attr' specs.

Built-ins are registered exactly as a third-party package would register through
an entry-point group, so both paths stay exercised.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownKind(LookupError):
    """Raised for a kind nobody registered."""


class Registry(Generic[T]):
    """Maps a kind name to an implementation, imported only when first used."""

    def __init__(self, what: str, group: str, builtins: dict[str, str]) -> None:
        self.what = what
        self.group = group
        self._specs: dict[str, str] = dict(builtins)
        self._loaded: dict[str, T] = {}
        self._entry_points_read = False

    def register(self, kind: str, implementation: T) -> None:
        """Register an implementation object directly (tests, embedding)."""
        self._loaded[kind] = implementation

    def kinds(self) -> list[str]:
        """Every known kind, sorted."""
        self._read_entry_points()
        return sorted(set(self._specs) | set(self._loaded))

    def get(self, kind: str) -> T:
        """The implementation for ``kind``; UnknownKind lists the known ones."""
        self._read_entry_points()
        if kind in self._loaded:
            return self._loaded[kind]
        spec = self._specs.get(kind)
        if spec is None:
            known = ", ".join(self.kinds())
            raise UnknownKind(f"unknown {self.what} kind {kind!r}; known kinds: {known}")
        module_name, _, attr = spec.partition(":")
        implementation: T = getattr(importlib.import_module(module_name), attr)
        self._loaded[kind] = implementation
        return implementation

    def __iter__(self) -> Iterator[str]:
        return iter(self.kinds())

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        self._entry_points_read = True
        for ep in entry_points(group=self.group):
            self._specs.setdefault(ep.name, ep.value)
