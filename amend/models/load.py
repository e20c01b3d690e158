"""Load a profile: the large model, the small base model and their shared tokenizer.

Device: cuda, then mps, then cpu (or the `device` setting). Dtype per model from the settings,
else the profile's default: bfloat16 halves time and memory on CPU for the Qwen pair; float32
keeps the expert and base rows of a mixed-adapter batch exact (the tiny profile and the
equivalence tests use it). When large and small are one model it is loaded once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amend.config import Settings, load_settings
from amend.errors import UserError
from amend.models.hf import quiet_transformers
from amend.models.profiles import ModelSpec, Profile, dtypes, get_profile
from amend.models.pull import Progress, no_progress, is_pulled, model_dir, pull_model


class LoadError(UserError):
    """Models that cannot be used together (or at all); the message says why."""


@dataclass
class LoadedProfile:
    profile: Profile
    large: Any  # transformers causal LM, eval mode
    small: Any  # the small base model; the same object as large when profile.shared
    tokenizer: Any  # shared by both
    device: str  # "cuda", "mps" or "cpu"
    settings: Settings

    @property
    def shared(self) -> bool:
        return self.large is self.small


def pick_device(setting: str = "auto") -> str:
    import torch

    if setting != "auto":
        if setting == "cuda" and not torch.cuda.is_available():
            raise LoadError("device cuda was asked for, but torch sees no CUDA device")
        return setting
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def source_of(settings: Settings, spec: ModelSpec) -> str:
    """What to hand to from_pretrained: a pulled folder, a local folder or a hub id."""
    folder = model_dir(settings, spec)
    return str(folder) if folder is not None else spec.hub_id


def load_model(settings: Settings, spec: ModelSpec, dtype: str, device: str):
    import torch
    from transformers import AutoModelForCausalLM

    quiet_transformers()
    model = AutoModelForCausalLM.from_pretrained(source_of(settings, spec), dtype=getattr(torch, dtype))
    return model.to(device).eval()


def load_tokenizer(settings: Settings, spec: ModelSpec):
    from transformers import AutoTokenizer

    quiet_transformers()
    return AutoTokenizer.from_pretrained(source_of(settings, spec))


def load_profile(
    name: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    settings: Settings | None = None,
    on_progress: Progress = no_progress,
) -> LoadedProfile:
    """Load a profile's models, pulling them first if they are not here yet.

    `dtype` (if given) overrides both models' dtypes; `device` overrides the setting.
    """
    settings = settings or load_settings()
    profile = get_profile(settings, name)
    for spec in profile.specs:
        if not is_pulled(settings, spec):
            pull_model(settings, spec, on_progress)
    device = pick_device(device or settings.device)
    large_dtype, small_dtype = (dtype, dtype) if dtype else dtypes(settings, profile)

    on_progress(f"load {profile.large.key}", 0, None)
    tokenizer = load_tokenizer(settings, profile.large)
    large = load_model(settings, profile.large, large_dtype, device)
    if profile.shared and large_dtype == small_dtype:
        small = large
    else:
        small_tokenizer = load_tokenizer(settings, profile.small)
        if small_tokenizer.get_vocab() != tokenizer.get_vocab():
            raise LoadError(
                f"profile {profile.name}: {profile.large.key} and {profile.small.key} do not share "
                f"one vocabulary ({len(tokenizer)} vs {len(small_tokenizer)} tokens); "
                "proxy-tuning needs one tokenizer for both"
            )
        on_progress(f"load {profile.small.key}", 0, None)
        small = load_model(settings, profile.small, small_dtype, device)
    on_progress("load", 1, 1)
    return LoadedProfile(profile, large, small, tokenizer, device, settings)
