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
    assert g.meta == {"profile": "tiny", "alpha": 1.0, "adapter_version": None, "system": None}


def test_the_active_adapter_is_picked_up_on_reload(assistant, settings, random_adapter, tmp_path):
    folder = shutil.copytree(random_adapter, tmp_path / "v1")
    register(settings, folder)
    assert assistant.reload() == 1
    assert assistant.decoder.adapter_path == folder
    g = assistant.ask(QUESTION, alpha=0.5, max_new_tokens=4)
    g.result()
    assert g.meta["adapter_version"] == 1 and g.meta["alpha"] == 0.5
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
    assert assistant.ask(QUESTION, context=False).meta["system"] is None


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
    assert out["profile"] == "tiny" and out["adapter_version"] is None and out["alpha"] == 1.0
    assert 0 < out["tokens"] <= 10 and out["seconds"] > 0


def test_ask_command_rejects_an_empty_question(home):
    result = CliRunner().invoke(cli, ["ask", "  "])
    assert result.exit_code != 0 and "question is empty" in result.output
