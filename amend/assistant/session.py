"""The assistant of one profile: its models, the store's active adapter, and the decoder.

`Assistant.load(settings)` loads the profile and steers it with the adapter the store marks
active for that profile (none yet: the large model alone). `ask` streams an answer; with
`context=True` the most related active facts go into the system prompt (the evaluation's
`context` baseline). `reload()` picks up a newer adapter after an update.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from amend.assistant.decoder import DecodeOptions, Generation, ProxyDecoder
from amend.config import Settings, load_settings
from amend.errors import UserError

CONTEXT_PROMPT = "Answer using these facts. They are true and override anything you knew before:\n"


class AdapterMissing(UserError):
    """The store names an active adapter whose folder is gone."""


class Assistant:
    def __init__(self, settings: Settings, loaded: Any, store: Any = None) -> None:
        self.settings = settings
        self.lp = loaded
        self.profile = loaded.profile.name
        self.device = loaded.device
        self._store = store
        self.adapter_version: int | None = None
        self.decoder = ProxyDecoder(loaded, options=DecodeOptions.from_settings(settings))
        self._stop = threading.Event()
        self.reload()

    @classmethod
    def load(cls, settings: Settings | None = None, profile: str | None = None, device: str | None = None,
             on_progress: Any = None) -> Assistant:
        """Load the profile's models (pulling them first if needed) and the active adapter."""
        from amend.models.load import load_profile

        settings = settings or load_settings()
        kwargs = {"on_progress": on_progress} if on_progress else {}
        return cls(settings, load_profile(profile, device=device, settings=settings, **kwargs))

    @property
    def store(self) -> Any:
        if self._store is None:
            from amend.store.db import open_store

            self._store = open_store(self.settings)
        return self._store

    def reload(self) -> int | None:
        """Use the store's active adapter for this profile (or none); returns its version."""
        from amend.store.adapters import active_adapter

        with self.store.session(write=False) as session:
            adapter = active_adapter(session, self.profile)
            version, path = (adapter.version, Path(adapter.path)) if adapter else (None, None)
        if path is not None and not (path / "adapter_config.json").is_file():
            raise AdapterMissing(f"adapter v{version} of profile {self.profile}: no peft adapter in {path}")
        if path != self.decoder.adapter_path:
            self.decoder.load_adapter(path)
        self.adapter_version = version
        return version

    def related(self, question: str) -> list[str]:
        """The texts of the active facts most related to `question` (settings.context_facts)."""
        from amend.models.embed import embed
        from amend.store.related import related_facts

        with self.store.session() as session:  # may cache new fact vectors
            return [f.text for f, _ in related_facts(session, question, self.settings.context_facts, embed)]

    def system_prompt(self, question: str, context: bool) -> str | None:
        if not context:
            return None
        facts = self.related(question)
        return CONTEXT_PROMPT + "\n".join(f"- {t}" for t in facts) if facts else None

    def ask(self, question: str, history: list[dict[str, str]] | None = None, context: bool = False,
            alpha: float | None = None, **overrides: Any) -> Generation:
        """Stream the answer to `question` after `history` (chat messages). Iterate the result
        for text pieces; it also carries .tokens, .seconds, .finish_reason and .meta
        (adapter_version, alpha, profile, facts in the prompt)."""
        system = self.system_prompt(question, context)
        messages = [{"role": "system", "content": system}] if system else []
        messages += list(history or []) + [{"role": "user", "content": question}]
        if alpha is not None:
            overrides["alpha"] = alpha
        self._stop.clear()
        g = self.decoder.generate(messages, stop=self._stop, **overrides)
        effective = overrides.get("alpha", self.decoder.options.alpha)
        g.meta.update(profile=self.profile, alpha=effective, adapter_version=self.adapter_version, system=system)
        return g

    def stop(self) -> None:
        """End the running answer after its current token."""
        self._stop.set()

    def close(self) -> None:
        self.decoder.close()
