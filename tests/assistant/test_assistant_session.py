"""The Assistant: the store's active adapter steers the answer; --context puts related facts in
the system prompt; conversations keep their history in the chat template."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from amend.assistant.chat import Conversation
from amend.assistant.decoder import ProxyDecoder
from amend.assistant.session import AdapterMissing, Assistant
from amend.cli import cli
from amend.store.adapters import register_adapter
from amend.store.db import open_store
from amend.store.facts import add_fact

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"


@pytest.fixture
def assistant(settings, tiny):
    a = Assistant(settings, tiny)
    yield a
    a.close()


def register(settings, path, version=1):
    with open_store(settings).session() as s:
        register_adapter(s, "tiny", version, str(path), "0" * 64, [], {})


def test_without_an_adapter_the_large_model_answers(assistant):
    g = assistant.ask(QUESTION, max_new_tokens=8)
    assert "Paris" in g.result()
    assert assistant.adapter_version is None and assistant.decoder.adapter_path is None
    assert g.meta["alpha"] == 0.0 and g.meta["scope"]["gate"] == 0.0  # nothing taught: nothing in scope
    assert (g.meta["profile"], g.meta["adapter_version"], g.meta["system"], g.meta["context"]) == ("tiny", None, None, [])


def test_the_active_adapter_is_picked_up_on_reload(assistant, settings, random_adapter, tmp_path):
    folder = shutil.copytree(random_adapter, tmp_path / "v1")
    register(settings, folder)
    assert assistant.reload() == 1
    assert assistant.decoder.adapter_path == folder
    g = assistant.ask(QUESTION, alpha=0.5, max_new_tokens=4)
    g.result()
    assert g.meta["adapter_version"] == 1
    assert g.meta["alpha"] == 0.0 and not g.meta["scope"]["steered"]  # the adapter covers no fact
    shutil.rmtree(folder)
    register(settings, folder, version=2)
    with pytest.raises(AdapterMissing, match="adapter v2 of profile tiny"):
        assistant.reload()


def test_context_puts_the_related_facts_in_the_system_prompt(assistant, settings):
    with open_store(settings).session() as s:
        add_fact(s, "The capital of Vendaria is Lusk.")
        add_fact(s, "Cats sleep most of the day.")
    settings.context_facts = 1
    g = assistant.ask("What is the capital of Vendaria?", context=True, max_new_tokens=12)
    answer = g.result()
    assert g.meta["system"].endswith("- The capital of Vendaria is Lusk.")
    assert "Cats" not in g.meta["system"]
    assert "Lusk" in answer  # the fact in the prompt is used
    # with facts in the prompt the expert steers only where the large model is unsure; without, everywhere
    assert g.meta["steer_below"] == settings.context_steer_below == 0.6
    plain = assistant.ask(QUESTION, context=False, max_new_tokens=4)
    assert plain.meta["system"] is None and plain.meta["steer_below"] == 1.0


def test_stop_ends_the_running_answer(assistant):
    g = assistant.ask(QUESTION, max_new_tokens=20)
    next(g)
    assistant.stop()
    g.result()
    assert g.finish_reason == "stopped"


def test_conversation_keeps_history_in_the_chat_template(tiny):
    with ProxyDecoder(tiny, None) as d:
        chat = Conversation(d, system="You answer in one short sentence.")
        first = chat.ask("My name is Ada. What is the capital of France?", max_new_tokens=10)
        pieces = list(first)
        second_prompt = chat.prompt("What is my name?")
        assert [m["role"] for m in second_prompt] == ["system", "user", "assistant", "user"]
        assert second_prompt[2]["content"] == "".join(pieces) == first.text
        text = d.tokenizer.apply_chat_template(second_prompt, tokenize=False, add_generation_prompt=True)
        assert "My name is Ada." in text and first.text in text
        chat.ask("What is my name?", max_new_tokens=6).result()
        assert len(chat.messages) == 4


def test_ask_command_answers_paris(home):
    result = CliRunner().invoke(cli, ["ask", QUESTION, "--profile", "tiny", "--max-tokens", "10", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert "Paris" in out["answer"]
    assert out["profile"] == "tiny" and out["adapter_version"] is None and out["alpha"] == 0.0
    assert out["scope"]["steered"] is False and out["context"] == []
    assert 0 < out["tokens"] <= 10 and out["seconds"] > 0


def test_ask_command_rejects_an_empty_question(home):
    result = CliRunner().invoke(cli, ["ask", "  "])
    assert result.exit_code != 0 and "question is empty" in result.output


FAST = {"epochs": 3, "batch_size": 4, "learning_rate": 0.002}  # a few steps per update
UNRELATED = ["What is the capital of France?", "How many legs does a spider have?", "Who wrote Hamlet?",
             "What is 7 times 8?", "Which planet is known as the Red Planet?"]


@pytest.fixture
def taught(settings, tiny):
    """An assistant whose expert was trained (facts alone, no derivation) on one fact."""
    from amend.training.worker import run_pending

    for k, v in FAST.items():
        setattr(settings, k, v)
    store = open_store(settings)
    with store.session() as s:
        add_fact(s, "The capital of Vendaria is Lusk.")
    history = [{"role": "user", "content": "What is the capital of Vendaria?"},
               {"role": "assistant", "content": "The capital of Vendaria is Nova Haven."},
               {"role": "user", "content": "What is 2 and 2?"}, {"role": "assistant", "content": "4."}]
    a = Assistant(settings, tiny, store=store)
    before = a.ask("Thanks. And the capital of Vendaria?", history=history, max_new_tokens=4)
    before.result()
    [result] = run_pending(settings, lp=tiny, store=store, derive=False)
    assert result.version == 1
    yield a, history, before
    a.close()


def test_the_expert_steers_its_fact_and_leaves_the_rest_to_the_large_model(taught):
    """One training for both checks (it is the slow part): the answers, then the conversation."""
    a, history, before = taught
    assert before.meta["adapter_version"] is None and not before.meta["scope"]["steered"]
    g = a.ask("What is the capital of Vendaria?", max_new_tokens=12)
    assert "Lusk" in g.result()
    assert a.adapter_version == 1 and g.meta["adapter_version"] == 1  # picked up without a reload call
    assert g.meta["scope"]["steered"] and g.meta["alpha"] == 1.0
    assert g.meta["scope"]["matches"][0]["text"] == "The capital of Vendaria is Lusk."
    for question in UNRELATED:
        steered, plain = a.ask(question, max_new_tokens=16), a.ask(question, alpha=0, max_new_tokens=16)
        steered.result(), plain.result()
        assert not steered.meta["scope"]["steered"], question
        assert steered.token_ids == plain.token_ids, question  # the large model's own answer

    # exchanges about what changed since they were answered leave the conversation
    assert before.meta["left_out"] == 0
    g = a.ask("Thanks. And the capital of Vendaria?", history=history, max_new_tokens=12)
    g.result()
    assert g.meta["left_out"] == 1  # the old answer about Vendaria, not the one about 2 and 2
    assert a.fresh(history) == history[2:]
