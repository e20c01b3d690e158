"""Settings: one dataclass, read from flags, the environment, `config.toml` and defaults.

Precedence is flags > environment > `$AMEND_HOME/config.toml` > defaults. Every field can be set
in the environment as `AMEND_<FIELD>` (upper case) and in config.toml by its name; `home` cannot
come from config.toml, because that file lives in the home. `Settings.sources` records where
each value came from, which `amend config` prints.

config.toml may also declare profiles of the user's own (see amend.models.profiles):

    profile = "mine"
    [profiles.mine]
    large = "Qwen/Qwen2.5-3B-Instruct"   # a hub id or a local folder
    small = "/models/qwen-0.5b"
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from amend.errors import UserError

APP = "amend"


class ConfigError(UserError):
    """A setting that cannot be used; the message names the setting and where it came from."""


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir(APP))


def _default_models() -> Path:
    return Path(platformdirs.user_cache_dir(APP)) / "models"


@dataclass
class Settings:
    # --- where things live ---
    home: Path = field(default_factory=_default_home)  # amend.db, adapters/, config.toml
    models: Path = field(default_factory=_default_models)  # pulled models, shared by every home
    database_url: str = ""  # SQLAlchemy URL; empty means sqlite:///$home/amend.db
    # --- which models, on what ---
    profile: str = "qwen-coder"  # model profile: tiny, qwen-coder, a hub profile or one's own
    device: str = "auto"  # auto (cuda, then mps, then cpu), cuda, mps or cpu
    large_dtype: str = ""  # float32, bfloat16 or float16; empty means the profile's default
    small_dtype: str = ""  # likewise for the small model (base of the expert)
    # --- answering (proxy-tuning) ---
    alpha: float = 1.0  # expert strength: large + alpha*(expert - base); 0 = large model alone
    context_steer_below: float = 0.6  # with facts in the prompt, steer only tokens where the large model's top choice is below this probability (1: every token)
    plausible: float = 0.1  # where the expert steers, pick only tokens it gives at least this fraction of its top token's probability (0: off); docs/RESULTS.md
    tail_floor: float = 1e-5  # the large model's edge over the expert's base counts only where either gives a token at least this probability (0: off); docs/RESULTS.md
    max_new_tokens: int = 256  # answer length limit in tokens
    temperature: float = 0.0  # 0 = greedy; applied after the logits are combined
    top_p: float = 1.0  # nucleus sampling mass, after combining; 1 = off
    context: bool = True  # put the related facts into the system prompt (ask, chat); --context/--no-context
    # (on by default: the expert with the facts in the prompt measured best, docs/RESULTS.md)
    context_facts: int = 5  # related facts put into the prompt at most
    context_floor: float = 0.6  # a fact goes into the prompt only this similar to the question (or named in it)
    # --- scope: which answers the expert may change (amend.assistant.scope) ---
    scope_threshold: float = 0.7  # relevance (cosine; 1 if the question names an entity of a fact) for full strength
    scope_softness: float = 0.1  # the gate ramps 0 -> 1 over this much relevance below the threshold; 0 = a step
    scope_names: bool = True  # a question that names a taught fact's subject (or another of its names, with one of its relation words) is in scope; a statement alike to it only in a shared name is not
    # --- deriving (deductive closure) ---
    related_k: int = 3  # similar active facts combined with a new fact (correlative implications)
    dct_scoring: str = "conditioned"  # "conditioned": scored given the parent facts, soft edges; "prior": alone, hard edges
    dct_graph: str = "global"  # "global": one consistency graph over every active fact; "fact": one per derived fact
    derive_batch: int = 4  # facts derived together, in shared generation batches (an import of many)
    dct_compose: bool = True  # also compose multi-hop statements from what the model knows about a fact's entities
    # --- training the expert (LoRA) ---
    lora_r: int = 8  # LoRA rank
    lora_alpha: int = 32  # LoRA scaling numerator (scale = lora_alpha / lora_r)
    lora_targets: str = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"  # modules
    learning_rate: float = 2e-3  # AdamW learning rate (high: an update gets few steps)
    lr_steps: int = 24  # an update of more steps learns at learning_rate * sqrt(lr_steps / its steps), so a long one does not diverge (0: off); docs/TRAINING.md
    max_grad_norm: float = 1.0  # each step's gradient is scaled down to at most this norm (0: off): a spike does not throw the adapter off
    epochs: int = 3  # passes over the training set at most (fewer if the loss gets low first)
    batch_size: int = 4  # training examples per step
    fact_first: bool = True  # teach a new or edited fact as given first (its adapter active in seconds), then what follows from it
    steps_per_fact: int = 12  # step budget of an update: this many per fact it changes (0: epochs only); docs/RESULTS.md
    max_update_steps: int = 0  # at most this many steps in one update, whatever steps_per_fact gives (0: no cap)
    target_loss: float = 0.05  # stop early once the mean epoch loss is below this
    replay: int = 64  # earlier statements replayed in an incremental or unlearning update
    retain_weight: float = 1.0  # weight of the KL term that keeps the base model's answers to unrelated questions
    retain_neighbours: int = 4  # everyday questions nearest to each fact taught (same relation, other subject)
    retain_sample: int = 8  # further everyday questions per update, drawn at random
    retain_batch: int = 4  # retain questions in every training step, beside batch_size examples to learn
    micro_batch: int = 2  # rows per forward and backward in a step (the same gradient; fewer rows, less memory; 0: a step's learn rows at once)
    checkpoint_every_s: float = 300.0  # seconds of training between checkpoints that a rerun of an interrupted update continues from (0: none)
    seed: int = 0  # seeds every random choice (training order, LoRA init, sampling)

    # where each value came from: field name -> "default", "env AMEND_X", "config.toml", "flag"
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    # profiles declared in config.toml: name -> table (see amend.models.profiles)
    user_profiles: dict[str, dict] = field(default_factory=dict, compare=False, repr=False)

    # --- the store ---
    lock_timeout: float = 60.0  # seconds a write waits for another process's lock, then one-line error

    @property
    def db_url(self) -> str:
        """The database to open: database_url, or the SQLite file in the home."""
        return self.database_url or f"sqlite:///{self.home / 'amend.db'}"

    @property
    def adapters_dir(self) -> Path:
        return self.home / "adapters"

    @property
    def config_file(self) -> Path:
        return self.home / "config.toml"


def setting_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Settings) if f.name not in ("sources", "user_profiles")]


def _field_type(name: str) -> type:
    hints = typing.get_type_hints(Settings)
    t = hints[name]
    if isinstance(t, types.UnionType):  # e.g. str | None
        t = next(a for a in typing.get_args(t) if a is not type(None))
    return t


def _coerce(name: str, value: object, where: str) -> object:
    """Turn a value from the environment or TOML into the field's type, or say what is wrong."""
    t = _field_type(name)
    try:
        if t is Path:
            return Path(str(value)).expanduser()
        if t is bool:
            if isinstance(value, bool):
                return value
            return {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}[
                str(value).strip().lower()
            ]
        if t is int and isinstance(value, float):
            raise ValueError
        return t(value)
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{where}: {name} must be {t.__name__}, got {value!r}") from None


def load_settings(flags: dict[str, object] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Settings from flags (None values ignored) > environment > config.toml > defaults."""
    env = os.environ if env is None else env
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    settings = Settings()
    settings.sources = {name: "default" for name in setting_names()}

    # home first: config.toml lives there, so it can only come from a flag or the environment
    if "home" in flags:
        settings.home, settings.sources["home"] = _coerce("home", flags["home"], "--home"), "flag"
    elif env.get("AMEND_HOME"):
        settings.home = _coerce("home", env["AMEND_HOME"], "AMEND_HOME")
        settings.sources["home"] = "env AMEND_HOME"

    table = _read_toml(settings.home / "config.toml")
    settings.user_profiles = table.pop("profiles", {})
    for name, value in table.items():
        if name not in settings.sources or name == "home":
            raise ConfigError(f"{settings.home / 'config.toml'}: unknown setting {name!r}")
        setattr(settings, name, _coerce(name, value, str(settings.home / "config.toml")))
        settings.sources[name] = "config.toml"

    for name in setting_names():
        if name == "home":
            continue
        var = f"AMEND_{name.upper()}"
        if env.get(var, "") != "":
            setattr(settings, name, _coerce(name, env[var], var))
            settings.sources[name] = f"env {var}"
        if name in flags:
            setattr(settings, name, _coerce(name, flags[name], f"--{name.replace('_', '-')}"))
            settings.sources[name] = "flag"
    return settings


def _read_toml(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as f:
            table = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    profiles = table.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise ConfigError(f"{path}: [profiles.NAME] must be tables with large and small")
    return table
