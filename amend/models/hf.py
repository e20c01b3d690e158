"""Keep transformers quiet: amend shows its own progress, so the library's bars and warnings
would only interleave with it."""

import functools


@functools.cache
def quiet_transformers() -> None:
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
