"""Named variants: every choice a user makes by name goes through one of these.

Engines, chunk policies, switching rules, noise modes (and backends, graders, training
variants as they arrive) register an implementation under a name with a decorator; one
getter turns an unknown name into a one-line error that lists the known ones. The
schema's enums and the CLI's choices are tested to equal a registry's names, so the
three never drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from tokenshift.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> implementation table for one kind of variant (``kind`` names it in errors)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated class or function under ``name`` (once)."""

        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return add

    def get(self, name: str) -> T:
        """The implementation registered as ``name``; a UserError listing the known names otherwise."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise UserError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        """Registered names in registration order (the first is the default where one is needed)."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
