"""A conversation with the proxy-tuned decoder: history kept as chat-template messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from amend.assistant.decoder import Generation, ProxyDecoder


class Conversation:
    """Messages so far (an optional system prompt first); `ask` streams the next answer and,
    once it has ended, appends the question and the answer to the history: also an answer cut
    short by the stop flag or by `Generation.close()`, as far as it got. The decoder keeps each
    model's KV cache between turns, so a turn encodes only the new question (and what the chat
    template re-renders differently)."""

    def __init__(self, decoder: ProxyDecoder, system: str | None = None) -> None:
        self.decoder = decoder
        self.system = system
        self.messages: list[dict[str, str]] = []

    def prompt(self, question: str) -> list[dict[str, str]]:
        """The messages the next answer is generated from."""
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + self.messages + [{"role": "user", "content": question}]

    def ask(self, question: str, stop: Callable[[], bool] | Any = None, **overrides: Any) -> Generation:
        """Stream an answer to `question` (overrides: DecodeOptions fields such as alpha)."""
        messages = self.prompt(question)

        def remember(g: Generation) -> None:
            self.messages += [{"role": "user", "content": question}, {"role": "assistant", "content": g.text}]

        return self.decoder.generate(messages, stop=stop, on_finish=remember, **overrides)

    def reset(self) -> None:
        self.messages = []
