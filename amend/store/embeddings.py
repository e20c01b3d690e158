"""Sentence vectors of the facts, cached: FactEmbedding rows filed under the embedding model's
name and a hash of the text, so only new, edited or differently-embedded facts are embedded
again. numpy only: `embed` is handed in (amend.models.embed.embed), the store never imports torch.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from amend.store.schema import Fact, FactEmbedding

Embed = Callable[[list[str]], np.ndarray]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def model_name(embed: Embed) -> str:
    """The name cached vectors are filed under: the embed module's MODEL_NAME, else the function's name."""
    module = sys.modules.get(getattr(embed, "__module__", "") or "")
    return getattr(module, "MODEL_NAME", None) or f"{getattr(embed, '__module__', '')}.{getattr(embed, '__qualname__', repr(embed))}"


def fact_vectors(session: Session, facts: list[Fact], embed: Embed, model: str | None = None) -> np.ndarray:
    """An (n, d) float32 matrix of the facts' unit vectors, embedding only missing or stale ones."""
    model = model or model_name(embed)
    cached = {e.fact_id: e for e in session.scalars(
        select(FactEmbedding).where(FactEmbedding.fact_id.in_([f.id for f in facts]))
    )} if facts else {}
    stale = [f for f in facts if (e := cached.get(f.id)) is None or e.model != model or e.text_hash != text_hash(f.text)]
    if stale:
        fresh = np.asarray(embed([f.text for f in stale]), dtype=np.float32)
        for fact, vector in zip(stale, fresh):
            row = cached.get(fact.id)
            if row is None:
                row = cached[fact.id] = FactEmbedding(fact_id=fact.id)
                session.add(row)
            row.model, row.vector, row.text_hash = model, vector.tobytes(), text_hash(fact.text)
        session.flush()
    if not facts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([np.frombuffer(cached[f.id].vector, dtype=np.float32) for f in facts])
