"""Pulling: join and verify GGUF parts read out of wheels; a tampered file leaves nothing behind."""

import dataclasses
import hashlib
import zipfile
from pathlib import Path

import pytest

from amend.models import pull as pull_mod
from amend.models.profiles import ModelSpec, WheelGGUF
from amend.models.pull import PullError, is_pulled, pull_model


def _wheel(folder: Path, name: str, member: str, data: bytes) -> Path:
    path = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, data)
    return path


def _spec(parts: list[bytes]) -> ModelSpec:
    joined = b"".join(parts)
    return ModelSpec(
        key="fake-model",
        gguf=WheelGGUF(
            requirements=tuple(f"fake-part{i}==1.0" for i in range(len(parts))),
            members=tuple(f"fake_part{i}/data/part{i:02d}.bin" for i in range(len(parts))),
            sha256=hashlib.sha256(joined).hexdigest(),
            filename="fake.gguf",
        ),
    )


def test_join_reads_parts_in_order_and_checks_sha(tmp_path: Path) -> None:
    parts = [b"GGUF" + bytes(range(256)) * 3, b"second part", b"third"]
    spec = _spec(parts)
    wheels = [_wheel(tmp_path, f"fake_part{i}", m, d) for i, (m, d) in enumerate(zip(spec.gguf.members, parts))]
    seen = []
    joined = pull_mod._join_and_verify(spec, wheels, tmp_path / "out", lambda s, d, t: seen.append((d, t)))
    assert joined.read_bytes() == b"".join(parts)
    assert seen[-1][0] == seen[-1][1] == len(b"".join(parts))


def test_tampered_file_is_rejected_and_removed(settings, monkeypatch, tmp_path: Path) -> None:
    parts = [b"GGUF original bytes", b"tail"]
    spec = _spec(parts)
    tampered = [parts[0].replace(b"original", b"tampered"), parts[1]]

    def fake_download(spec, folder, on_progress):  # the wheels as a hostile mirror would serve them
        folder.mkdir(parents=True)
        return [_wheel(folder, f"fake_part{i}", m, d) for i, (m, d) in enumerate(zip(spec.gguf.members, tampered))]

    monkeypatch.setattr(pull_mod, "_download", fake_download)
    with pytest.raises(PullError, match="SHA-256 mismatch for fake-model.*deleted"):
        pull_model(settings, spec)
    assert not is_pulled(settings, spec)
    assert list(settings.models.glob("*fake-model*")) == []  # nothing half-converted left


def test_download_failure_says_what_to_do(settings) -> None:
    spec = dataclasses.replace(
        _spec([b"x"]), gguf=dataclasses.replace(_spec([b"x"]).gguf, requirements=("amend-no-such-package-xyz==0.0.1",))
    )
    with pytest.raises(PullError, match="could not download fake-model from PyPI.*local folder"):
        pull_model(settings, spec)
    assert list(settings.models.glob("*fake-model*")) == []
