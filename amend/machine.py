"""What amend adapts to the machine it runs on: OpenMP threads, and whether the CPU has bfloat16.

Torch-free on purpose: `prepare_threads` must run before torch is imported (amend/__init__.py
calls it), and `amend config` reports the dtype choice without loading torch.

**Threads.** torch's CPU kernels run on OpenMP threads (GNU libgomp in the pip wheels; MKL and
oneDNN use the same threads). By default an idle thread spins on its core for a while before it
sleeps, so that the next parallel region starts at once. On a machine where another program
keeps a core busy, the spinning threads and that program take turns on the cores, and every
parallel region waits for the thread that was descheduled: docs/DECODING.md measured the large
model alone falling from 19 to 2.9 tokens/s on 2 cores beside other work. With
`OMP_WAIT_POLICY=PASSIVE` idle threads sleep at once, which costs on an idle machine (every small
operation pays a wake-up: a LoRA step in chunks of 2 rows took twice as long, docs/TRAINING.md)
and keeps about a fair share on a busy one, where spinning threads collapse (docs/DECODING.md). OpenMP reads the
variable when the library loads, i.e. at `import torch`, so it is set here, in the environment,
only if the user has not tuned the waiting themselves (OMP_WAIT_POLICY, GOMP_SPINCOUNT or
KMP_BLOCKTIME set: their values win) and torch is not loaded yet.

**bfloat16.** bfloat16 halves the weights' memory and, on a CPU with bfloat16 instructions
(AVX512_BF16, AMX; or ARM's BF16), runs faster than float32. Without them, torch converts in
software: measured with oneDNN and ATen limited to AVX2 on this project's machine, a 0.5B
model's forward-and-backward step took 16x as long in bfloat16 as in float32 (docs/DECODING.md).
`cpu_bfloat16()` says whether the CPU computes it natively, honouring the variables that limit
torch to an older instruction set (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import MutableMapping

THREAD_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}  # set before torch loads, unless the user set them
USER_TUNING = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")  # any of these set: leave waiting alone
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 /proc/cpuinfo flags of native bfloat16 arithmetic
ARM_BF16_FLAGS = ("bf16",)  # aarch64 /proc/cpuinfo "Features"
SET_BY_AMEND: dict[str, str] = {}  # what prepare_threads set in this process (`amend config` says so)


def prepare_threads(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set amend's OpenMP defaults in the environment where the user has not set them, if torch
    is not imported yet (afterwards they would have no effect). Returns what was set."""
    environ = os.environ if environ is None else environ
    if "torch" in sys.modules:
        return {}
    done = {}
    if any(environ.get(name) for name in USER_TUNING):
        return done
    for name, value in THREAD_DEFAULTS.items():
        environ[name] = done[name] = value
    if environ is os.environ:
        SET_BY_AMEND.update(done)
    return done


def thread_report(environ: MutableMapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """{variable: (value, where it came from)} for the OpenMP settings amend manages."""
    environ = os.environ if environ is None else environ
    return {name: (environ.get(name, ""), "amend's default" if name in SET_BY_AMEND else "environment")
            for name in THREAD_DEFAULTS}


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; on macOS the arm64 BF16 feature)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return set(value.split())
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True,
                                 timeout=2).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return set()
        return {"bf16"} if out == "1" else set()
    return set()


def cpu_bfloat16(environ: MutableMapping[str, str] | None = None, flags: set[str] | None = None) -> tuple[bool, str]:
    """(whether this CPU computes bfloat16 natively for torch, the reason in words)."""
    environ = os.environ if environ is None else environ
    flags = cpu_flags() if flags is None else flags
    found = [f for f in BF16_FLAGS + ARM_BF16_FLAGS if f in flags]
    if not found:
        return False, "the CPU has no bfloat16 instructions (avx512_bf16, amx_bf16 or ARM bf16)"
    capability = environ.get("ATEN_CPU_CAPABILITY", "").strip().lower()
    if capability and not capability.startswith("avx512") and "bf16" not in found:
        return False, f"ATEN_CPU_CAPABILITY={capability} keeps torch from using {found[0]}"
    isa = environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if isa and isa != "ALL" and not any(k in isa for k in ("BF16", "AMX", "FP16", "AVX10")):
        return False, f"ONEDNN_MAX_CPU_ISA={isa} keeps oneDNN from using {found[0]}"
    return True, f"the CPU computes bfloat16 natively ({found[0]})"
