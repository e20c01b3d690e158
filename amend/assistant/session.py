"""The assistant of one profile: its models, the store's active adapter, the scope gate, the decoder.

`Assistant.load(settings)` loads the profile and steers it with the adapter the store marks
active for that profile (none yet: the large model alone). `ask` streams an answer:

1. the knowledge is brought up to date: a newer adapter is loaded, the scope index rebuilt when
   facts, derived statements or the adapter changed (amend.store.taught.knowledge_state);
2. the scope gate (scope.py) decides how strongly the expert may steer this question:
   alpha * gate(relevance); 0 = the large model alone;
3. with context on, the related facts above the floor go into the system prompt, which says that
   they override anything said earlier in the conversation; with facts there, the expert steers
   only the tokens where the large model, which reads them, is unsure (`steer_below`);
4. earlier exchanges of the conversation about what changed since they were answered are left
   out of what the models see (an old wrong answer would otherwise outweigh the new knowledge).

The Generation's `.meta` says what was decided: the scope (relevance, gate, alpha, the facts
that opened it), the facts in the prompt, the adapter version.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from amend.assistant.decoder import DecodeOptions, Generation, ProxyDecoder
from amend.assistant.scope import Scope, ScopeIndex, about
from amend.config import Settings, load_settings
from amend.errors import UserError

CONTEXT_PROMPT = ("Answer using these facts. They are true, and they override anything you knew before "
                  "and anything said earlier in this conversation:\n")

Messages = list[dict[str, str]]


class AdapterMissing(UserError):
    """The store names an active adapter whose folder is gone."""


def context_prompt(facts: list[str]) -> str | None:
    """The system prompt that carries `facts` (None without facts)."""
    return CONTEXT_PROMPT + "\n".join(f"- {t}" for t in facts) if facts else None


def _pairs(history: Messages) -> list[tuple[int, int]]:
    """(user index, assistant index) of each exchange of a chat history."""
    return [(i, i + 1) for i in range(len(history) - 1)
            if history[i]["role"] == "user" and history[i + 1]["role"] == "assistant"]


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
        self._index: ScopeIndex | None = None  # the scope index of the knowledge state in use
        # what changed, in order: (fact texts added, edited, retracted, restored or newly taught, their vectors)
        self._changes: list[tuple[list[str], Any]] = []
        self._answered: dict[tuple[str, str], int] = {}  # (question, answer) -> len(_changes) when answered
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

    # --- knowledge ---
    def knowledge(self) -> ScopeIndex:
        """The scope index of the store's current knowledge, rebuilt (and the adapter reloaded)
        when it changed; what changed is remembered (see `fresh`)."""
        from amend.models.embed import embed
        from amend.store.taught import knowledge_state, load_taught

        with self.store.session(write=False) as session:
            state = knowledge_state(session, self.profile)
        if self._index is not None and self._index.taught.state == state:
            return self._index
        with self.store.session() as session:  # may cache new vectors
            taught = load_taught(session, self.profile, embed)
        if taught.adapter_version != self.adapter_version:
            self.reload()
        old, self._index = self._index, ScopeIndex(taught)
        if old is not None:
            def known(ix: ScopeIndex) -> set[tuple[int, str, bool]]:
                t = ix.taught
                return {(f, x, f in t.taught_facts) for f, x in zip(t.fact_ids, t.fact_texts)}

            changed = sorted({x for _, x, _ in known(old) ^ known(self._index)})
            if changed:
                self._changes.append((changed, embed(changed)))
        return self._index

    def fresh(self, history: Messages) -> Messages:
        """`history` without the exchanges about what changed since they were answered: a fact
        added, edited, retracted, restored or newly taught that the question names or is close to
        (ScopeIndex.context's test). An exchange this assistant did not answer counts as answered
        before every change it has seen."""
        drop: set[int] = set()
        for u, a in _pairs(history):
            question = history[u]["content"]
            since = self._answered.get((question, history[a]["content"]), 0)
            later = self._changes[since:]
            if later:
                vector = self.embed_one(question)
                if any(about(question, vector, texts, vectors, self.settings.context_floor) for texts, vectors in later):
                    drop.update((u, a))
        return [m for i, m in enumerate(history) if i not in drop]

    @staticmethod
    def embed_one(text: str) -> Any:
        from amend.models.embed import embed

        return embed([text])[0]

    def scope(self, question: str, alpha: float | None = None, index: ScopeIndex | None = None,
              vector: Any = None) -> Scope:
        """The scope gate's decision for `question` (alpha: the strength before gating)."""
        s = self.settings
        index = index or self.knowledge()
        vector = self.embed_one(question) if vector is None else vector
        return index.judge(question, vector, s.alpha if alpha is None else alpha, s.scope_threshold,
                           s.scope_softness, s.scope_names)

    def related(self, question: str, index: ScopeIndex | None = None, vector: Any = None) -> list[str]:
        """The active facts that go into the prompt for `question` (see ScopeIndex.context)."""
        s = self.settings
        index = index or self.knowledge()
        vector = self.embed_one(question) if vector is None else vector
        return index.context(question, vector, s.context_facts, s.context_floor)

    # --- answering ---
    def ask(self, question: str, history: Messages | None = None, context: bool | None = None,
            alpha: float | None = None, **overrides: Any) -> Generation:
        """Stream the answer to `question` after `history` (chat messages). Iterate the result
        for text pieces; it also carries .tokens, .seconds, .finish_reason and .meta (profile,
        adapter_version, alpha used, scope, system prompt, facts in the prompt).

        `alpha` is the strength before gating (default: the alpha setting); `context` puts the
        related facts into the system prompt (default: the context setting)."""
        given = list(history or [])
        index = self.knowledge()
        history = self.fresh(given)
        vector = self.embed_one(question)
        scope = self.scope(question, alpha if alpha is not None else overrides.pop("alpha", None), index, vector)
        use_context = self.settings.context if context is None else context
        facts = self.related(question, index, vector) if use_context else []
        system = context_prompt(facts)
        messages = [{"role": "system", "content": system}] if system else []
        messages += history + [{"role": "user", "content": question}]
        self._stop.clear()
        seen = len(self._changes)

        def remember(g: Generation) -> None:  # answered with the knowledge of this moment
            self._answered[(question, g.text)] = seen

        overrides.setdefault("steer_below", self.steer_below(facts))
        g = self.decoder.generate(messages, stop=self._stop, alpha=scope.alpha, on_finish=remember, **overrides)
        g.meta.update(profile=self.profile, alpha=scope.alpha, steer_below=overrides["steer_below"],
                      adapter_version=self.adapter_version, system=system,
                      context=facts, scope=scope.to_json(), left_out=(len(given) - len(history)) // 2)
        return g

    def steer_below(self, facts: list[str]) -> float:
        """Which tokens the expert steers (proxy.strength): with facts in the prompt, only those
        where the large model's top token is below `context_steer_below` (where it is sure, it
        is reading them or copying the question); without, every token (there the large model
        is often sure of what the user's fact corrects). Measured in docs/RESULTS.md."""
        return self.settings.context_steer_below if facts else 1.0

    def stop(self) -> None:
        """End the running answer after its current token."""
        self._stop.set()

    def close(self) -> None:
        self.decoder.close()
