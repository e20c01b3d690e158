"""What amend adapts to the machine: OpenMP defaults before torch loads, the dtypes on a CPU."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from amend.cli import cli
from amend.machine import cpu_bfloat16, prepare_threads
from amend.models.load import choose_dtypes
from amend.models.profiles import get_profile

NATIVE = {"avx2", "avx512f", "avx512_bf16"}
AVX2 = {"avx2", "fma"}


def test_threads_are_set_before_torch_and_the_users_value_wins():
    code = ("import os, sys; import amend; print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    run = lambda env: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                     check=True).stdout.split()
    assert run({"PATH": ""}) == ["PASSIVE", "False"]  # set by amend, and importing amend loads no torch
    assert run({"PATH": "", "OMP_WAIT_POLICY": "ACTIVE"}) == ["ACTIVE", "False"]
    assert run({"PATH": "", "GOMP_SPINCOUNT": "10000"}) == ["None", "False"]  # the user's own tuning


def test_prepare_threads_leaves_a_loaded_torch_alone(monkeypatch):
    env: dict[str, str] = {}
    monkeypatch.setitem(sys.modules, "torch", object())
    assert prepare_threads(env) == {} and env == {}
    monkeypatch.delitem(sys.modules, "torch")
    assert prepare_threads(env) == {"OMP_WAIT_POLICY": "PASSIVE"}


@pytest.mark.parametrize("flags, env, native", [
    (NATIVE, {}, True),
    ({"avx2", "amx_bf16", "amx_tile"}, {}, True),
    ({"fp", "asimd", "bf16"}, {}, True),  # aarch64 Features
    (AVX2, {}, False),
    (NATIVE, {"ATEN_CPU_CAPABILITY": "avx2"}, False),  # how an AVX2-only laptop is imitated
    (NATIVE, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, False),
    (NATIVE, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16", "ATEN_CPU_CAPABILITY": "avx512"}, True),
])
def test_native_bfloat16(flags, env, native):
    got, why = cpu_bfloat16(env, flags)
    assert got is native and why


def test_dtypes_fit_the_cpu_and_settings_still_win(settings):
    qwen = get_profile(settings, "qwen-coder")
    fast, slow = (True, "native"), (False, "no bf16")
    assert choose_dtypes(settings, qwen, "cpu", native_bf16=fast).large == "bfloat16"
    chosen = choose_dtypes(settings, qwen, "cpu", native_bf16=slow)
    assert (chosen.large, chosen.small) == ("float32", "float32") and "no bf16" in chosen.reason
    assert choose_dtypes(settings, qwen, "cuda", native_bf16=slow).large == "bfloat16"  # only the CPU adapts
    settings.large_dtype = "bfloat16"
    chosen = choose_dtypes(settings, qwen, "cpu", native_bf16=slow)
    assert (chosen.large, chosen.small) == ("bfloat16", "float32") and "large_dtype setting" in chosen.reason
    assert choose_dtypes(settings, qwen, "cpu", "float32", native_bf16=fast).large == "float32"
    settings.large_dtype = ""
    settings.user_profiles = {"mine": {"large": "/models/a", "large_dtype": "bfloat16", "small_dtype": "bfloat16"}}
    assert choose_dtypes(settings, get_profile(settings, "mine"), "cpu", native_bf16=slow).large == "bfloat16"


def test_amend_config_shows_the_dtypes_and_why(monkeypatch):
    monkeypatch.setenv("AMEND_PROFILE", "qwen-coder")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    result = CliRunner().invoke(cli, ["config", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows["dtypes"]["value"] == "large float32, small float32"
    assert "ATEN_CPU_CAPABILITY=avx2" in rows["dtypes"]["source"] or "no bfloat16" in rows["dtypes"]["source"]
    assert "OMP_WAIT_POLICY" in rows
