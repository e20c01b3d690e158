"""Related facts: the active facts nearest in meaning to a text (cosine of sentence vectors).

Vectors are cached (amend/store/embeddings.py), so only new, edited or differently-embedded facts
are embedded again. The search goes through a vector index (sqlite-vec, pgvector, or a numpy
matrix in memory: amend/store/vectors.py, chosen in vector_search.py) that the store keeps in
step with the facts. numpy only: `embed` is handed in (the caller passes
amend.models.embed.embed), so the store never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from amend.store.embeddings import Embed, model_name
from amend.store.schema import Fact
from amend.store.vector_search import nearest
from amend.store.vectors import FACTS


def related_facts(session: Session, text: str, k: int, embed: Embed, exclude_ids: Iterable[int] = (),
                  model: str | None = None) -> list[tuple[Fact, float]]:
    """The k active facts most similar to `text`, best first, with their cosine similarity."""
    hits = nearest(session, FACTS, lambda: np.asarray(embed([text]), dtype=np.float32)[0], k, embed,
                   model or model_name(embed), exclude_ids)
    facts = {f.id: f for f in session.scalars(select(Fact).where(Fact.id.in_([i for i, _ in hits])))} if hits else {}
    return [(facts[i], score) for i, score in hits]
