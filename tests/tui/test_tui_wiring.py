"""The real parts behind the app: the tiny assistant as an Answerer, the worker as the Updater."""

from __future__ import annotations

import pytest

from amend.store.db import open_store
from amend.tui.wiring import ChatAnswerer, Trainer


@pytest.mark.slow
def test_the_assistant_streams_through_the_answerer(tiny, settings):
    from amend.assistant import Assistant

    settings.max_new_tokens = 12
    answerer = ChatAnswerer(Assistant(settings, tiny))
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
    assert reports == [] and trainer.models.assistant is None  # no job: the models were not even loaded
    store.dispose()


@pytest.mark.slow
def test_an_update_trains_on_the_assistants_models_while_answers_stream(tiny, settings, monkeypatch):
    """One copy of the models: the trainer uses the assistant's loaded profile (no second load),
    trains on a copy that shares its weights, and answers streamed meanwhile do not change."""
    import threading

    import amend.models.load
    from amend.assistant import Assistant
    from amend.store.facts import add_fact
    from amend.tui.wiring import ChatModels

    def no_second_load(*args, **kwargs):
        raise AssertionError("the trainer loaded a second copy of the models")

    monkeypatch.setattr(amend.models.load, "load_profile", no_second_load)
    settings.max_new_tokens, settings.steps_per_fact, settings.epochs = 8, 2, 1
    settings.fact_first = False  # one adapter at the end (the facts-first one: the next test)
    store = open_store(settings)
    models = ChatModels(settings)
    models.assistant = Assistant(settings, tiny, store)
    answerer = ChatAnswerer(models.assistant, models.structure)
    before = "".join(answerer.stream([], "What is the capital of France?"))
    weights = {n: p.data_ptr() for n, p in tiny.large.named_parameters()}
    flags = {n: p.requires_grad for n, p in tiny.large.named_parameters()}
    with store.session() as s:
        add_fact(s, "The capital of Vendaria is Lusk.")
    summary = {}
    trainer = threading.Thread(target=lambda: summary.update(text=Trainer(settings, store, models)(lambda p: None)))
    trainer.start()
    during = []
    while trainer.is_alive():
        during.append("".join(answerer.stream([], "What is the capital of France?")))
    trainer.join()
    assert "adapter v1 active" in summary["text"]
    assert during and set(during) == {before}
    assert {n: p.data_ptr() for n, p in tiny.large.named_parameters()} == weights  # never copied
    assert {n: p.requires_grad for n, p in tiny.large.named_parameters()} == flags
    with models.structure:  # as while an update runs: not now
        assert answerer.reload() is False and models.assistant.adapter_version is None
    assert answerer.reload() is True and models.assistant.adapter_version == 1
    models.assistant.close()
    assert not any("lora" in n for n, _ in tiny.large.named_modules())
    store.dispose()


@pytest.mark.slow
def test_the_chat_takes_up_the_facts_first_adapter_while_the_update_goes_on(tiny, settings):
    """fact_first: between the update's phases the trainer gives the assistant the adapter that
    teaches the new fact (after any answer: it waits for the app's model lock); the final one
    is the app's to take up after the update, as before."""
    import threading

    from amend.assistant import Assistant
    from amend.store.facts import add_fact
    from amend.tui.wiring import ChatModels

    settings.max_new_tokens, settings.steps_per_fact, settings.epochs = 8, 2, 1
    store = open_store(settings)
    models = ChatModels(settings)
    models.assistant = Assistant(settings, tiny, store)
    with store.session() as s:
        add_fact(s, "The capital of Vendaria is Lusk.")
    lock = threading.Lock()
    seen = []

    def report(p) -> None:
        seen.append((p.stage, models.assistant.adapter_version))

    with lock:  # an answer streams: the trainer's take-up waits for it
        trainer = threading.Thread(target=lambda: seen.append(Trainer(settings, store, models, lock)(report)))
        trainer.start()
        trainer.join(timeout=60)
        assert trainer.is_alive() and ("published", 1) not in seen
    trainer.join()
    stages = [stage for stage, _ in seen[:-1]]
    assert ("published", 1) in seen and stages.index("published") < stages.index("derive")
    assert all(version is None for stage, version in seen[: stages.index("published")])
    assert "adapter v2 active" in seen[-1] and models.assistant.adapter_version == 1
    models.assistant.close()
    store.dispose()
