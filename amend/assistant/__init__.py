"""amend.assistant: the proxy-tuned decoder (large + alpha*(expert - base)), conversations and
the `Assistant` that ties a profile to the store's active adapter.

Names are imported lazily so that importing this package does not load torch.
"""

from __future__ import annotations

_EXPORTS = {
    "Assistant": "amend.assistant.session",
    "Conversation": "amend.assistant.chat",
    "DecodeOptions": "amend.assistant.decoder",
    "Generation": "amend.assistant.decoder",
    "ProxyDecoder": "amend.assistant.decoder",
    "StreamDetokenizer": "amend.assistant.detok",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'amend.assistant' has no attribute {name!r}")


__all__ = list(_EXPORTS)
