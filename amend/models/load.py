"""Load a profile: the large model, the small base model and their shared tokenizer.

Device: cuda, then mps, then cpu (or the `device` setting). Dtype per model (`choose_dtypes`):
the `large_dtype` / `small_dtype` settings, or one a user's profile sets, win; else the
profile's default, except that a bfloat16 default becomes float32 on a CPU that does not compute
bfloat16 natively (amend.machine.cpu_bfloat16: there bfloat16 is several times slower than
float32, 16x for a training step, docs/DECODING.md). bfloat16 halves time and memory on a CPU
that has it (the Qwen pair); float32 keeps the expert and base rows of a mixed-adapter batch
exact (the tiny profile and the equivalence tests use it). When large and small are one model it
is loaded once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amend.config import Settings, load_settings
from amend.errors import UserError
from amend.machine import cpu_bfloat16
from amend.models.hf import quiet_transformers
from amend.models.profiles import ModelSpec, Profile, get_profile
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
    dtypes: DtypeChoice | None = None  # what was chosen and why

    @property
    def shared(self) -> bool:
        return self.large is self.small


@dataclass(frozen=True)
class DtypeChoice:
    large: str  # dtype name of the large model
    small: str  # of the small model
    reason: str  # why, in words (`amend config` shows it)


def choose_dtypes(settings: Settings, profile: Profile, device: str, override: str | None = None,
                  native_bf16: tuple[bool, str] | None = None) -> DtypeChoice:
    """The dtypes to load `profile` in on `device` (see the module docstring); `override` (the
    `dtype` argument of load_profile) beats everything; `native_bf16` defaults to cpu_bfloat16()."""
    if override:
        return DtypeChoice(override, override, f"{override} asked for")
    table = settings.user_profiles.get(profile.name, {})
    picked, reasons = {}, {}
    for role, default in (("large", profile.large_dtype), ("small", profile.small_dtype)):
        setting = getattr(settings, f"{role}_dtype")
        if setting:
            picked[role] = setting
            reasons[role] = f"the {role}_dtype setting ({settings.sources.get(f'{role}_dtype', 'set')})"
        elif f"{role}_dtype" in table:
            picked[role], reasons[role] = default, f"profile {profile.name} sets it"
        elif default == "bfloat16" and device == "cpu":
            native, why = native_bf16 or cpu_bfloat16()
            picked[role] = default if native else "float32"
            reasons[role] = why + ("" if native else ", so float32 instead of the profile's bfloat16")
        else:
            picked[role], reasons[role] = default, f"profile {profile.name}'s default"
    same = reasons["large"] == reasons["small"]
    reason = reasons["large"] if same else f"large: {reasons['large']}; small: {reasons['small']}"
    return DtypeChoice(picked["large"], picked["small"], reason)


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
    chosen = choose_dtypes(settings, profile, device, dtype)
    large_dtype, small_dtype = chosen.large, chosen.small

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
    return LoadedProfile(profile, large, small, tokenizer, device, settings, chosen)
