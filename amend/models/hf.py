"""Keep transformers quiet: amend shows its own progress, so the library's bars and warnings
would only interleave with it."""

import functools
import warnings


@functools.cache
def quiet_transformers() -> None:
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    # peft asks transformers a deprecated question when it wraps or loads an adapter; not ours to fix
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
