"""The tiny profile: pulled into AMEND_MODELS, loaded once, greedy generation is deterministic."""

import pytest
import torch

from amend.models.load import LoadError, pick_device
from amend.models import pull as pull_mod
from amend.models.pull import MANIFEST, is_pulled, pull_profile


def test_tiny_is_pulled_and_shared(tiny) -> None:
    assert tiny.shared and tiny.large is tiny.small
    assert is_pulled(tiny.settings, tiny.profile.large)
    assert (tiny.settings.models / tiny.profile.large.key / MANIFEST).is_file()
    assert tiny.tokenizer.chat_template


def test_pulling_a_pulled_profile_is_a_no_op(tiny, monkeypatch) -> None:
    def no_download(*args):
        raise AssertionError("a pulled profile was downloaded again")

    monkeypatch.setattr(pull_mod, "_download", no_download)
    (folder,) = pull_profile(tiny.settings, tiny.profile)
    assert folder == tiny.settings.models / tiny.profile.large.key


def test_greedy_generation_is_deterministic(tiny) -> None:
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tiny.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")["input_ids"]
    runs = [tiny.large.generate(ids, max_new_tokens=12, do_sample=False)[0, ids.shape[1]:] for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    assert "Paris" in tiny.tokenizer.decode(runs[0])


def test_cpu_device_is_always_available() -> None:
    assert pick_device("cpu") == "cpu"
    assert pick_device("auto") in ("cuda", "mps", "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_asking_for_cuda_without_one_is_a_clear_error() -> None:
    with pytest.raises(LoadError, match="no CUDA device"):
        pick_device("cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_tiny_loads_on_cuda(settings) -> None:
    from amend.models.load import load_profile

    lp = load_profile("tiny", device="cuda", settings=settings)
    assert next(lp.large.parameters()).device.type == "cuda"
