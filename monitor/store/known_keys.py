"""Which story links the database already holds, remembered between polls.

A feed lists mostly the same thirty links poll after poll; asking the database about each
of them every time was a fifth of a quiet poll pass. Stories are never deleted, so a key
once seen in `story_aliases` stays true: the process remembers it and asks only about keys
it has not met. Another worker storing a story is no problem either: its key is not
remembered here, so it is looked up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from itertools import islice

LIMIT = 200_000  # keys remembered (~25 MB at most); the oldest are forgotten first


class KnownKeys:
    """A bounded memory of identity keys (monitor.core.urls.identity_key) that have a story."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._keys: dict[str, None] = {}  # insertion-ordered: the first are the oldest

    def __len__(self) -> int:
        return len(self._keys)

    async def known(
        self, keys: Iterable[str], look_up: Callable[[list[str]], Awaitable[set[str]]]
    ) -> set[str]:
        """Which of `keys` have a story: those remembered, and those `look_up` (the database,
        on the writer's thread) finds among the rest; not called when all are remembered."""
        wanted = set(keys)
        found = {key for key in wanted if key in self._keys}
        unknown = [key for key in wanted if key not in self._keys]
        if unknown:
            looked_up = await look_up(unknown)
            self.remember(looked_up)
            found |= looked_up
        return found

    def remember(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._keys[key] = None
        overflow = len(self._keys) - self.limit
        if overflow > 0:
            for key in list(islice(self._keys, overflow)):
                del self._keys[key]
