"""KV caches kept between answers: a conversation's next turn encodes only what is new.

Each model keeps one `PromptCache`: a transformers DynamicCache and the token ids it holds. A
new prompt reuses the longest common prefix of those ids and its own (the cache is cropped
there) and only the rest is fed. So whatever changes between turns just works: the next turn of
a conversation shares everything up to the new question; a changed system prompt (other related
facts) shares little and is re-encoded from where it differs; a model that sat out a turn (the
expert at alpha 0) catches up from where it stopped. The answer's own tokens stay in the cache,
so a re-rendered history matches as far as the chat template re-tokenizes it the same way.

The small model's cache (expert and base rows) depends on the adapter, so it is only valid for
the adapter it was made with (`ProxyModels.adapter_serial`); the large model's does not depend
on the adapter. `CacheSet` holds both for a decoder and lends them to one generation at a time.
"""

from __future__ import annotations

import threading
from typing import Any


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two id lists."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PromptCache:
    """A DynamicCache plus the ids it holds (`ids[i]` is the token at cache position i)."""

    def __init__(self, config: Any, key: Any = None) -> None:
        self.config = config
        self.key = key  # what the cached keys and values depend on (the adapter, for the small model)
        self.cache = self._fresh()
        self._ids: list[int] = []
        self._pending: list[Any] = []  # id tensors fed since `ids` was last read (no host sync per token)

    def _fresh(self) -> Any:
        from transformers import DynamicCache

        return DynamicCache(config=self.config)

    @property
    def ids(self) -> list[int]:
        """The token ids the cache holds, in order."""
        for t in self._pending:
            self._ids.extend(t.reshape(-1).tolist())
        self._pending = []
        return self._ids

    def reuse(self, ids: list[int]) -> int:
        """Crop to the longest common prefix with `ids` and return its length: how many of `ids`
        need not be fed again. At most len(ids) - 1: the last token is always fed, because its
        logits are what the caller wants."""
        if self.cache.get_seq_length() != len(self.ids):  # a forward was interrupted half-way
            self.cache, self._ids, self._pending = self._fresh(), [], []
        keep = min(common_prefix(self.ids, ids), max(len(ids) - 1, 0))
        drop = len(self.ids) - keep
        if keep == 0:
            self.cache, self._ids = self._fresh(), []
        elif drop:
            self.cache.crop(-drop)  # transformers >= 5.24: a negative count of tokens to remove
            del self._ids[keep:]
        return keep

    def fed(self, ids: Any) -> None:
        """Record tokens (a tensor) the model has just been fed: they are in the cache now."""
        self._pending.append(ids)


class CacheSet:
    """A decoder's caches: `large` (one row, the large model) and `small` (the expert and base
    rows, for one adapter). One generation at a time borrows them (`borrow`/`give_back`); a
    second one at the same time gets caches of its own that are then dropped."""

    def __init__(self) -> None:
        self.large: PromptCache | None = None
        self.small: PromptCache | None = None
        self._lock = threading.Lock()
        self._lent = False

    def borrow(self) -> CacheSet | None:
        """This set, or None while another generation has it."""
        with self._lock:
            if self._lent:
                return None
            self._lent = True
            return self

    def give_back(self) -> None:
        with self._lock:
            self._lent = False

    def clear(self, small_only: bool = False) -> None:
        """Drop the cached keys and values (all, or only the small model's, e.g. a new adapter)."""
        self.small = None
        if not small_only:
            self.large = None

    def get(self, role: str, config: Any, key: Any = None) -> PromptCache:
        """The cache for `role` ("large" or "small"), a fresh one if it was made for another key."""
        cache = getattr(self, role)
        if cache is None or cache.key != key or cache.config is not config:
            cache = PromptCache(config, key)
            setattr(self, role, cache)
        return cache
