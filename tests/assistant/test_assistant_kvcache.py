"""KV caches kept between answers, padding columns, and the per-thread base view of the model."""

from __future__ import annotations

import dataclasses
import threading

import pytest
import torch

from amend.assistant.chat import Conversation
from amend.assistant.decoder import DecodeOptions, ProxyDecoder
from amend.assistant.kvcache import CacheSet, PromptCache, common_prefix
from amend.assistant.proxy import BASE, EXPERT, token_count

pytestmark = pytest.mark.slow

SHORT = DecodeOptions(max_new_tokens=8, loop_repeats=0)
TURNS = ["What is the capital of France?", "And of Italy?", "Which of the two is larger?"]


def fresh_answer(d: ProxyDecoder, messages) -> list[int]:
    """The answer with empty caches (what decoding gave before caches were kept)."""
    d.caches.clear()
    g = d.generate(messages)
    g.result()
    d.caches.clear()
    return g.token_ids


def test_common_prefix_and_crop(tiny):
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2 and common_prefix([], [1]) == 0
    pc = PromptCache(tiny.large.config)
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.inference_mode():
        tiny.large(input_ids=ids, cache=pc.cache, use_cache=True)
    pc.fed(ids)
    assert pc.reuse([1, 2, 3, 9]) == 3 and pc.cache.get_seq_length() == 3 and pc.ids == [1, 2, 3]
    assert pc.reuse([1, 2, 3]) == 2  # the last token is always fed again: its logits are needed
    assert pc.reuse([7, 8]) == 0 and pc.cache.get_seq_length() == 0


@pytest.mark.parametrize("shared", [True, False])
def test_a_conversation_reuses_its_cache_and_answers_as_without(tiny, random_adapter, pair, shared):
    loaded, adapter = (tiny, random_adapter) if shared else pair
    alphas = [1.0, 0.0, 1.0]  # the expert sits out the second turn, then catches up
    with ProxyDecoder(loaded, adapter, SHORT) as d:
        without, chat = [], Conversation(d)
        for question, alpha in zip(TURNS, alphas):
            d.caches.clear()
            g = chat.ask(question, alpha=alpha)
            g.result()
            assert g.reused_tokens == 0
            without.append(g.token_ids)
        d.caches.clear()
        chat = Conversation(d)
        for i, (question, alpha) in enumerate(zip(TURNS, alphas)):
            g = chat.ask(question, alpha=alpha)
            g.result()
            assert g.token_ids == without[i] and g.first_token_s is not None
            # tiny at alpha 0 runs its large-model row, whose cache turn 1 (expert rows) did not fill
            assert (g.reused_tokens > 0) == (i > 0 and not (shared and i == 1))
        assert len(chat.messages) == 6


def test_a_new_adapter_or_system_prompt_is_not_answered_from_stale_keys(pair, tmp_path):
    from amend.assistant.synthetic import save_lora

    loaded, adapter = pair
    other = save_lora(loaded.small, tmp_path / "other", std=0.05, seed=9)
    messages = [{"role": "user", "content": TURNS[0]}]
    with ProxyDecoder(loaded, adapter, SHORT) as d:
        d.generate(messages).result()
        d.load_adapter(other)
        g = d.generate(messages)
        g.result()
        assert g.token_ids == fresh_answer(d, messages)
        d.generate(messages).result()
        system = [{"role": "system", "content": "Answer in one word."}] + messages
        g = d.generate(system)
        g.result()
        assert g.token_ids == fresh_answer(d, system)


def test_caches_are_lent_to_one_answer_at_a_time():
    caches = CacheSet()
    assert caches.borrow() is caches and caches.borrow() is None
    caches.give_back()
    assert caches.borrow() is caches


def test_padding_columns_are_never_sampled_nor_scored(tiny):
    """A model whose output layer has 64 rows more than the tokenizer has ids, and whose padding
    columns would win every argmax: they are cut off before picking and before scoring."""
    from transformers import LlamaConfig, LlamaForCausalLM

    n = token_count(tiny.tokenizer)
    torch.manual_seed(4)
    config = LlamaConfig(vocab_size=n + 64, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    model = LlamaForCausalLM(config).eval()
    model.lm_head.register_forward_hook(lambda mod, args, out: out + torch.cat(
        [torch.zeros(n), torch.full((64,), 100.0)]).to(out.dtype))
    loaded = dataclasses.replace(tiny, large=model, small=model)
    with ProxyDecoder(loaded, None, SHORT) as d:
        assert d.models.vocab == n
        g = d.generate(TURNS[0])
        g.result()
        assert g.token_ids and max(g.token_ids) < n
        continuation = "Paris"
        ids = d.tokenizer(continuation, add_special_tokens=False)["input_ids"]
        prompt = d.encode(TURNS[0])
        with torch.inference_mode():
            logits = model(torch.cat([prompt, torch.tensor([ids])], 1)).logits[0, -len(ids) - 1:-1, :n]
        expected = torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(ids).unsqueeze(1)).sum()
        assert d.logprob(TURNS[0], continuation, alpha=0.0) == pytest.approx(float(expected), abs=1e-4)


def test_as_base_gives_another_thread_the_base_model(tiny, random_adapter):
    """While one thread decodes with the expert, another sees the plain base model (the trainer
    deriving with the shared `tiny` model in the chat)."""
    ids = torch.tensor([tiny.tokenizer("The capital of France is")["input_ids"]])
    with torch.inference_mode():
        plain = tiny.large(input_ids=ids).logits[0, -1]
    with ProxyDecoder(tiny, random_adapter, SHORT) as d:
        seen = {}

        def other() -> None:
            with d.models.as_base(), torch.inference_mode():
                seen["base"] = tiny.large(input_ids=ids).logits[0, -1]

        with torch.inference_mode():
            expert_plain = tiny.large(input_ids=ids).logits[0, -1]  # outside: the LoRA as it is
            d.models._local.expert_rows = 1  # this thread decoding: the expert row first
            thread = threading.Thread(target=other)
            thread.start()
            thread.join()
            d.models._local.expert_rows = None
    # the same up to float rounding (the decoder's weight layout sums in another order)
    assert torch.allclose(seen["base"], plain, atol=1e-3)
    assert (expert_plain - plain).abs().max() > 100 * (seen["base"] - plain).abs().max()


def test_a_conversation_keeps_an_answer_cut_short(tiny):
    with ProxyDecoder(tiny, None, SHORT) as d:
        chat = Conversation(d)
        g = chat.ask(TURNS[0])
        first = next(g)
        g.close()
        assert g.finish_reason == "stopped"
        assert chat.messages == [{"role": "user", "content": TURNS[0]}, {"role": "assistant", "content": first}]
        assert d.caches.borrow() is d.caches  # the closed answer gave its caches back
        d.caches.give_back()
