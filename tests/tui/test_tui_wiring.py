"""The real parts behind the app: the tiny assistant as an Answerer, the worker as the Updater."""

from __future__ import annotations

import pytest

from amend.store.db import open_store
from amend.tui.wiring import AssistantAnswerer, Trainer


@pytest.mark.slow
def test_the_assistant_streams_through_the_answerer(tiny, settings):
    from amend.assistant import Assistant

    settings.max_new_tokens = 12
    answerer = AssistantAnswerer(Assistant(settings, tiny))
    assert answerer.device == "cpu"
    pieces = list(answerer.stream([], "What is the capital of France?"))
    assert len(pieces) > 1 and "Paris" in "".join(pieces)
    plain = "".join(answerer.stream([], "What is the capital of France?", alpha=0.0))
    assert plain == "".join(pieces)  # no adapter yet: the proxy is the large model alone
    answerer.reload()  # nothing active: stays without an adapter


def test_the_trainer_does_nothing_without_jobs_or_facts(settings):
    store = open_store(settings)
    reports = []
    trainer = Trainer(settings, store)
    assert trainer(reports.append) is None
    assert reports == [] and trainer._lp is None  # no job: the models were not even loaded
    store.dispose()
