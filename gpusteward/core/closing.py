"""`Closing`: the context manager of anything with a `close()` (a journal, a store, a
server), so `with Thing(...) as thing:` closes it however the block ends."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Closing"]


class Closing:
    """Subclasses define `close()`; `__enter__` returns the object itself (override it to
    start something first)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
