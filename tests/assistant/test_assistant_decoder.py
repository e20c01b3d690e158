"""The proxy-tuned decoder on the real tiny model (float32, so expert and base rows are exact)."""

from __future__ import annotations

import math
import threading

import pytest
import torch

from amend.assistant.decoder import DecodeOptions, ProxyDecoder, encode_prompt, end_token_ids

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"
GREEDY = DecodeOptions(max_new_tokens=24, loop_repeats=0)


def hf_greedy(loaded, ids, n=24) -> list[int]:
    """transformers' own greedy decoding of the large model, end token stripped."""
    with torch.inference_mode():
        out = loaded.large.generate(ids, max_new_tokens=n, do_sample=False)[0, ids.shape[1]:].tolist()
    eos = loaded.large.generation_config.eos_token_id
    return out[:-1] if out and out[-1] == eos else out


def reference_steps(models, ids, steps: int, alpha: float):
    """large + alpha*(expert - base) from THREE separate one-row forwards with their own caches."""
    from transformers import DynamicCache

    peft = models.peft
    large = (lambda x, c: _last(peft, x, c, disabled=True)) if models.shared else \
        (lambda x, c: models.large(input_ids=x, cache=c, use_cache=True).logits[0, -1])
    caches = [DynamicCache(), DynamicCache(), DynamicCache()]
    out, x = [], ids
    with torch.inference_mode():
        for _ in range(steps):
            l_ = large(x, caches[0])
            e = _last(peft, x, caches[1], disabled=False)
            b = _last(peft, x, caches[2], disabled=True)
            combined = l_ + alpha * (e - b)
            out.append(combined)
            x = combined.argmax().view(1, 1)
    return out


def assert_steps_match_reference(d, ids, steps: int, alpha: float, atol: float = 5e-4):
    """Feeding the decoder greedily gives, at every step, the three-forward reference's logits."""
    expected = reference_steps(d.models, ids, steps, alpha)
    run, x = d.step(alpha), ids
    with torch.inference_mode():
        for want in expected:
            got = run.feed(x)
            assert torch.allclose(got, want, atol=atol, rtol=1e-4), (got - want).abs().max()
            x = got.argmax().view(1, 1)
    return run


def _last(peft, x, cache, disabled: bool):
    if disabled:
        with peft.disable_adapter():
            return peft(input_ids=x, cache=cache, use_cache=True).logits[0, -1]
    return peft(input_ids=x, cache=cache, use_cache=True).logits[0, -1]


def test_alpha_zero_is_the_large_model(tiny, random_adapter):
    ids_ref = encode_prompt(tiny.tokenizer, QUESTION)
    expected = hf_greedy(tiny, ids_ref)
    with ProxyDecoder(tiny, random_adapter, GREEDY) as d:
        g = d.generate(QUESTION, alpha=0.0)
        g.result()
        run = d.step(1.0)
        with torch.inference_mode():
            run.feed(ids_ref)
    assert g.token_ids == expected
    assert g.finish_reason == "end"
    _, expert, base = run.parts()
    assert (expert - base).abs().max() > 1e-2  # the expert is not the base
    assert not any("lora" in n for n, _ in tiny.large.named_modules())  # close() took the adapter out


def test_no_adapter_is_the_large_model(tiny):
    ids = encode_prompt(tiny.tokenizer, QUESTION)
    with ProxyDecoder(tiny, None, GREEDY) as d:
        assert d.generate(QUESTION).result() and d.generate(QUESTION) is not None
        assert d.generate(ids).result() == d.tokenizer.decode(hf_greedy(tiny, ids), skip_special_tokens=True)


def test_zero_initialised_adapter_is_the_large_model(tiny, zero_adapter):
    ids = encode_prompt(tiny.tokenizer, QUESTION)
    expected = hf_greedy(tiny, ids)
    with ProxyDecoder(tiny, zero_adapter, GREEDY) as d:
        g = d.generate(ids, alpha=1.0)
        g.result()
    assert g.token_ids == expected


@pytest.mark.parametrize("alpha", [1.0, 2.5])
def test_combined_logits_equal_three_separate_forwards_shared(tiny, random_adapter, alpha):
    with ProxyDecoder(tiny, random_adapter) as d:
        ids = d.encode(QUESTION)
        assert_steps_match_reference(d, ids, 6, alpha)


def test_combined_logits_equal_three_separate_forwards_pair(pair):
    loaded, adapter = pair
    assert not loaded.shared
    with ProxyDecoder(loaded, adapter) as d:
        ids = d.encode(QUESTION)
        run = assert_steps_match_reference(d, ids, 6, 1.5)
        # the expert really differs from the base, so the sum is not the large model alone
        _, expert, base = run.parts()
        assert (expert - base).abs().max() > 1e-3


def test_cpu_pair_runs_the_small_model_beside_the_large_one(pair):
    """On CPU with two models the small model's forward runs on the helper thread, under the
    caller's inference mode, and the logits are exactly those of the two forwards in turn."""
    loaded, adapter = pair
    seen = []
    hook = loaded.small.get_decoder().register_forward_pre_hook(
        lambda module, args: seen.append((threading.current_thread().name, torch.is_inference_mode_enabled())))
    try:
        with ProxyDecoder(loaded, adapter) as d:
            assert d.models.side is not None
            ids, runs = d.encode(QUESTION), []
            for _ in range(2):
                run, x, logits = d.step(1.0), ids, []
                with torch.inference_mode():
                    for _ in range(4):
                        logits.append(run.feed(x))
                        x = logits[-1].argmax().view(1, 1)
                runs.append(logits)
                d.caches.clear()
                if d.models.side is not None:
                    d.models.side.close()
                    d.models.side = None  # the second run: one forward after the other
    finally:
        hook.remove()
    assert all(torch.equal(a, b) for a, b in zip(*runs))
    beside, in_turn = seen[:4], seen[4:]
    assert {name.startswith("amend-small-model") for name, _ in beside} == {True}
    assert {name.startswith("amend-small-model") for name, _ in in_turn} == {False}
    assert {inference for _, inference in seen} == {True}


def test_a_failing_large_forward_waits_for_the_small_one(pair, monkeypatch):
    """An error in the large model's forward is raised only once the small model's forward on the
    helper thread is over, so no forward is left running on the caches."""
    import time

    from amend.assistant.proxy import ProxyStep

    loaded, adapter = pair
    finished = []
    small = ProxyStep._small

    def slow_small(self, ids, keep):
        time.sleep(0.2)
        out = small(self, ids, keep)
        finished.append(True)
        return out

    def failing_large(self, ids, keep):
        raise RuntimeError("large failed")

    monkeypatch.setattr(ProxyStep, "_small", slow_small)
    monkeypatch.setattr(ProxyStep, "_large", failing_large)
    with ProxyDecoder(loaded, adapter) as d:
        with pytest.raises(RuntimeError, match="large failed"), torch.inference_mode():
            d.step(1.0).feed(d.encode(QUESTION))
        assert finished == [True]


def test_hooked_rows_equal_peft_mixed_batch_rows(tiny, random_adapter):
    """The expert/base rows told apart by the LoRA hooks (LoRA on the expert rows only) are the
    rows of peft's adapter_names API: one token, a prompt, and several rows of each kind."""
    from amend.assistant.proxy import BASE, EXPERT

    with ProxyDecoder(tiny, random_adapter) as d:
        assert d.models.rows_by_hooks
        ids = d.encode(QUESTION)
        for rows, x, keep in [([EXPERT, BASE], ids, 3), ([EXPERT, BASE], ids[:, -1:], 1),
                              ([EXPERT] * 2 + [BASE] * 3, ids, 2), ([BASE], ids, 1), ([EXPERT], ids, 1)]:
            with torch.inference_mode():
                ours = d.models.run_small(x, rows, None, keep=keep)
                peft = d.models.peft(input_ids=x.expand(len(rows), -1), adapter_names=rows,
                                     logits_to_keep=keep).logits
            assert torch.allclose(ours, peft, atol=1e-5, rtol=0), rows
            if rows == [EXPERT, BASE]:
                assert (ours[0] - ours[1]).abs().max() > 1e-2  # the expert row is not the base row
        with pytest.raises(ValueError, match="expert rows must come first"):
            d.models.run_small(ids, [BASE, EXPERT], None, keep=1)


def test_adapters_peft_must_mix_still_combine_exactly(pair, tmp_path):
    """An adapter with a LoRA bias cannot be split by the hooks: peft's mixed batch gives the rows instead."""
    from amend.assistant.synthetic import save_lora

    loaded, _ = pair
    adapter = save_lora(loaded.small, tmp_path / "bias-lora", std=0.05, seed=4, lora_bias=True)
    with ProxyDecoder(loaded, adapter) as d:
        assert not d.models.rows_by_hooks and not d.models.foldable
        ids = d.encode(QUESTION)
        assert_steps_match_reference(d, ids, 3, 1.0)


def test_pieces_join_to_the_decoded_text(tiny, random_adapter):
    with ProxyDecoder(tiny, random_adapter, GREEDY) as d:
        g = d.generate("Write the French word for coffee, with its accent, and a coffee emoji.", alpha=0.5)
        pieces = list(g)
    assert "".join(pieces) == g.text == d.tokenizer.decode(g.token_ids, skip_special_tokens=True)
    assert all(p and "\ufffd" not in p for p in pieces)


def test_stop_conditions(tiny, random_adapter):
    with ProxyDecoder(tiny, random_adapter, GREEDY) as d:
        short = d.generate(QUESTION, max_new_tokens=3)
        short.result()
        assert (short.tokens, short.finish_reason) == (3, "length")

        ended = d.generate(QUESTION, alpha=0.0)
        ended.result()
        assert ended.finish_reason == "end" and ended.tokens < 24
        assert not d.end_ids & set(ended.token_ids)

        flag = threading.Event()
        stopped = d.generate(QUESTION, stop=flag)
        next(stopped)
        flag.set()
        stopped.result()
        assert stopped.finish_reason == "stopped" and stopped.tokens <= 2

        looping = d.generate(QUESTION, loop_ngram=1, loop_repeats=1)
        looping.result()
        assert (looping.tokens, looping.finish_reason) == (1, "loop")


def test_end_tokens_come_from_the_chat_template(tiny):
    ends = end_token_ids(tiny.large, tiny.tokenizer)
    assert tiny.tokenizer.convert_tokens_to_ids("<|im_end|>") in ends
    assert tiny.large.generation_config.eos_token_id in ends


def test_seeded_sampling_repeats(tiny, random_adapter):
    with ProxyDecoder(tiny, random_adapter) as d:
        runs = [d.generate(QUESTION, temperature=0.9, top_p=0.9, seed=s, max_new_tokens=10) for s in (7, 7, 8)]
        for g in runs:
            g.result()
    assert runs[0].token_ids == runs[1].token_ids
    assert runs[0].token_ids != runs[2].token_ids


def test_repetition_penalty_changes_greedy_output(tiny):
    with ProxyDecoder(tiny, None, GREEDY) as d:
        plain = d.generate(QUESTION, max_new_tokens=6)
        penalised = d.generate(QUESTION, max_new_tokens=6, repetition_penalty=3.0)
        assert "capital of France" in plain.result()  # words of the question, said again
        assert "capital of France" not in penalised.result()


@pytest.mark.parametrize("shared", [True, False])
def test_logprob_is_the_sum_of_combined_log_softmax(tiny, random_adapter, pair, shared):
    loaded, adapter = (tiny, random_adapter) if shared else pair
    continuation = "The capital of France is Paris."
    with ProxyDecoder(loaded, adapter) as d:
        total = d.logprob(QUESTION, continuation, alpha=1.5)
        cont = d.tokenizer(continuation, add_special_tokens=False)["input_ids"]
        run, x, expected = d.step(1.5), d.encode(QUESTION), 0.0
        with torch.inference_mode():
            for t in cont:
                expected += float(torch.log_softmax(run.feed(x), -1)[t])
                x = torch.tensor([[t]])
        assert total == pytest.approx(expected, abs=1e-3)
        assert d.logprob(QUESTION, continuation, alpha=0.0) != pytest.approx(total, abs=1e-3)
        # a padded batch sums in another order than one row alone: 1e-5 apart was seen on one CPU
        assert d.logprobs(QUESTION, [continuation, "Rome."], alpha=1.5)[0] == pytest.approx(total, abs=1e-3)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_small_model_on_its_own_stream_combines_exactly(tiny, tmp_path):
    """On CUDA the small model runs on a side stream; the sum must not change."""
    import dataclasses

    from transformers import LlamaConfig, LlamaForCausalLM

    from amend.assistant.synthetic import save_lora

    torch.manual_seed(5)
    config = LlamaConfig(vocab_size=tiny.large.config.vocab_size, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    small = LlamaForCausalLM(config).eval().cuda()
    large = LlamaForCausalLM(tiny.large.config).eval().cuda()
    large.load_state_dict(tiny.large.state_dict())
    loaded = dataclasses.replace(tiny, large=large, small=small, device="cuda")
    adapter = save_lora(small, tmp_path / "lora", std=0.05)
    with ProxyDecoder(loaded, adapter) as d:
        assert d.models.stream is not None
        ids = d.encode(QUESTION)
        assert_steps_match_reference(d, ids, 4, 1.0, atol=1e-3)


def one_at_a_time(d, prompt, continuation: str, alpha: float) -> float:
    """The scoring `logprobs` replaced: prompt + continuation in one forward per model, alone."""
    ids = d.encode(prompt)
    cont = d.tokenizer(continuation, add_special_tokens=False, return_tensors="pt")["input_ids"]
    n = cont.shape[1]
    if n == 0:
        return 0.0
    with torch.inference_mode():
        logits = d.step(alpha).logits(torch.cat([ids, cont], dim=1), keep=n + 1)[:-1]
        return float(torch.log_softmax(logits, -1).gather(1, cont[0].unsqueeze(1)).sum())


CANDIDATES = ["Paris", "The capital of France is Paris.", "Rome", "", "Lyon, of course, or maybe Marseille"]


@pytest.mark.parametrize("setup,alpha", [("shared", 1.5), ("shared", 0.0), ("none", 1.0), ("pair", 1.0),
                                         ("pair-bias", 0.7)])
def test_logprobs_in_one_batch_equal_one_at_a_time(tiny, random_adapter, pair, tmp_path, setup, alpha):
    """Every path of the combination (proxy shared and folded, base row alone, large alone, a pair,
    peft's mixed batch) scores a right-padded batch as it scores each continuation alone."""
    from amend.assistant.synthetic import save_lora

    loaded, adapter = {"shared": (tiny, random_adapter), "none": (tiny, None), "pair": pair,
                       "pair-bias": (pair[0], None)}[setup]
    if setup == "pair-bias":
        adapter = save_lora(loaded.small, tmp_path / "bias-lora", std=0.05, seed=4, lora_bias=True)
    prompt = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": QUESTION}]
    with ProxyDecoder(loaded, adapter) as d:
        batched = d.logprobs(prompt, CANDIDATES, alpha=alpha)
        alone = [one_at_a_time(d, prompt, c, alpha) for c in CANDIDATES]
        assert batched == pytest.approx(alone, abs=1e-3)  # measured: at most 3e-5 apart
        assert batched[3] == 0.0 and len(set(batched)) == len(batched)
        assert d.logprob(prompt, CANDIDATES[1], alpha=alpha) == pytest.approx(alone[1], abs=1e-3)


@pytest.mark.parametrize("shared", [True, False])
def test_steer_below_steers_only_where_the_large_model_hesitates(tiny, random_adapter, pair, shared):
    """Per token, the sum is the proxy's where the large model's top probability is below the
    line and the large model's own where it is above; batched scoring does the same."""
    loaded, adapter = (tiny, random_adapter) if shared else pair
    with ProxyDecoder(loaded, adapter) as d:
        ids = d.encode(QUESTION)
        cont = d.tokenizer(" The capital of France is Paris.", add_special_tokens=False)["input_ids"]
        x, sure, unsure = ids, 0, 0
        full, alone, gated = d.step(1.5), d.step(0.0), d.step(1.5)
        gated.steer_below = 0.5
        with torch.inference_mode():
            for t in cont:
                f, l_, g = full.feed(x), alone.feed(x), gated.feed(x)
                if float(torch.softmax(l_, -1).max()) >= 0.5:
                    assert torch.allclose(g, l_, atol=1e-3)
                    sure += 1
                else:
                    assert torch.allclose(g, f, atol=1e-3)
                    unsure += 1
                x = torch.tensor([[t]])
        assert sure and unsure  # both kinds of token occurred
        d.options.steer_below = 0.5
        batched = d.logprobs(QUESTION, [" The capital of France is Paris.", " Rome"], alpha=1.5)
        stepped, x = 0.0, ids
        run = d.step(1.5)
        with torch.inference_mode():
            for t in cont:
                stepped += float(torch.log_softmax(run.feed(x), -1)[t])
                x = torch.tensor([[t]])
        assert batched[0] == pytest.approx(stepped, abs=1e-3)


@pytest.mark.parametrize("shared", [True, False])
def test_plausible_keeps_only_tokens_the_expert_finds_plausible(tiny, random_adapter, pair, shared):
    """With `plausible`, a steered step keeps the proxy's logits for the tokens the expert gives
    at least that fraction of its top probability and -inf for the rest; off (0) it is the proxy."""
    from amend.assistant.proxy import plausible_only

    loaded, adapter = (tiny, random_adapter) if shared else pair
    with ProxyDecoder(loaded, adapter) as d:
        ids = d.encode(QUESTION)
        full, kept = d.step(1.5), d.step(1.5)
        with torch.inference_mode():
            f = full.feed(ids)
            _, expert, _ = full.parts()
            lp = torch.log_softmax(expert[-1], -1)
            top = lp.topk(11).values
            floor = float(torch.exp((top[9] + top[10]) / 2 - top[0]))  # the expert's top 10 tokens pass
            kept.plausible = floor
            k = kept.feed(ids)
        allowed = lp >= lp.max() + math.log(floor)
        assert int(allowed.sum()) == 10
        assert torch.equal(torch.isfinite(k), allowed)
        assert torch.allclose(k[allowed], f[allowed], atol=1e-4)
        assert torch.equal(plausible_only(f, expert[-1], 0.0), f)  # 0: off
        d.options.plausible = floor  # greedy generation: its first token is one of them
        out = d.generate(QUESTION, max_new_tokens=1, temperature=0.0)
        out.result()
        assert out.token_ids[0] == int(k.argmax()) and allowed[out.token_ids[0]]


def test_plausible_leaves_unsteered_tokens_alone(tiny, random_adapter):
    """Where the large model is sure (steer_below) nothing is masked: its own choice stands."""
    with ProxyDecoder(tiny, random_adapter) as d:
        ids = d.encode(QUESTION)
        alone, gated = d.step(0.0), d.step(1.5)
        gated.steer_below, gated.plausible = 0.0, 0.5  # steer nowhere
        with torch.inference_mode():
            assert torch.allclose(gated.feed(ids), alone.feed(ids), atol=1e-3)


def test_tail_floor_lets_the_expert_decide_where_both_models_find_a_token_implausible(pair):
    """Two models, alpha 1: the sum is expert + log((p_large + floor) / (p_base + floor)) (up to a
    constant); folded and unfolded paths agree; floor 0 is the plain proxy; scoring uses it too."""
    from amend.assistant.proxy import tail_smoothed_base

    loaded, adapter = pair
    floor = 1e-3  # the random small model spreads its probability thinly: ~1/vocab each
    with ProxyDecoder(loaded, adapter) as d:
        ids = d.encode(QUESTION)
        plain, smoothed, unfolded = d.step(1.0), d.step(1.0), d.step(1.0)
        smoothed.tail_floor = unfolded.tail_floor = floor
        unfolded.fold = False  # the small model's logits per row, not one folded row
        with torch.inference_mode():
            p, s, u = plain.feed(ids), smoothed.feed(ids), unfolded.feed(ids)
            large, expert, base = smoothed.parts()
        lp = lambda x: torch.log_softmax(x[-1].float(), -1)  # noqa: E731
        want = lp(expert) + torch.log(lp(large).exp() + floor) - torch.log(lp(base).exp() + floor)
        assert torch.allclose(torch.log_softmax(s, -1), torch.log_softmax(want, -1), atol=1e-3)
        assert torch.allclose(torch.log_softmax(u, -1), torch.log_softmax(s, -1), atol=1e-3)
        assert not torch.allclose(torch.log_softmax(p, -1), torch.log_softmax(s, -1), atol=1e-2)
        assert tail_smoothed_base(large, base, 0.0) is base
        # the tokens both models find implausible: the large model's edge over the base is gone
        both_low = (lp(large).exp() < floor / 20) & (lp(base).exp() < floor / 20)
        assert int(both_low.sum()) > 100
        edge = torch.log_softmax(s, -1) - lp(expert)
        assert float(edge[both_low].std()) < 0.05 < 0.5 < float((lp(large) - lp(base))[both_low].std())
        d.options.tail_floor = floor  # scoring goes through the same sum
        top = int(s.argmax())
        text = d.tokenizer.decode([top])
        assert d.tokenizer(text, add_special_tokens=False)["input_ids"] == [top]
        assert d.logprobs(QUESTION, [text])[0] == pytest.approx(float(torch.log_softmax(s, -1)[top]), abs=1e-3)


def test_tail_floor_changes_nothing_with_one_model(tiny, random_adapter):
    """tiny: the base row is the large model, so there is no ratio to smooth."""
    with ProxyDecoder(tiny, random_adapter) as d:
        ids = d.encode(QUESTION)
        plain, floored = d.step(1.5), d.step(1.5)
        floored.tail_floor = 1e-3
        with torch.inference_mode():
            assert torch.equal(plain.feed(ids), floored.feed(ids))
