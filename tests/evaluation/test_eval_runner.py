"""run_eval with trained experts on tiny: the update runs in the case's own store and steers."""

from __future__ import annotations

import pytest

from amend.config import load_settings
from amend.evaluation.cases import parse_case
from amend.evaluation.runner import run_eval
from amend.evaluation.systems import parse_systems

pytestmark = pytest.mark.slow

FAST = {"AMEND_EPOCHS": "3", "AMEND_BATCH_SIZE": "4", "AMEND_LEARNING_RATE": "0.002"}  # a few steps per update
CASE = parse_case({
    "id": "v1", "facts": ["The capital of Vendaria is Lusk."],
    "probes": [{"kind": "direct", "question": "What is the capital of Vendaria?", "answers": ["Lusk"],
                "distractors": ["Paris", "Berlin", "Madrid"]}],
})


@pytest.fixture
def fast(home, monkeypatch):
    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    return load_settings()


def test_seed_lora_expert_ranks_the_new_fact_first(tiny, fast, home) -> None:
    stages: list[str] = []
    answers: list[tuple[int, int]] = []
    out = run_eval([CASE], tiny, fast, parse_systems("large,seed-lora"),
                   on_answer=lambda d, t: answers.append((d, t)), on_stage=lambda stage, detail: stages.append(stage))
    large, seed = out["cases"]
    assert (large["system"], seed["system"]) == ("large", "seed-lora")
    assert not large["ranking"] and seed["ranking"]
    assert seed["margin"] > large["margin"]
    [update] = out["updates"]
    assert (update["case"], update["store"], update["mode"], update["version"]) == ("v1", "seed", "full", 1)
    assert update["derived"] == 0 and update["steps"] > 0  # the facts alone, no derivation
    assert answers[0] == (0, 2) and answers[-1] == (2, 2)
    assert "v1: seed update: train" in stages and "v1: seed-lora" in stages
    assert not (home / "amend.db").exists() and not (home / "adapters").exists()
    assert tiny.small.__class__.__name__ == "LlamaForCausalLM"  # the adapter came out again


def test_batch_puts_every_case_in_one_store(tiny, fast) -> None:
    second = parse_case({
        "id": "v2", "facts": ["The capital of Vendaria is Lusk.", "Mira Tallis was born in Oslo."],
        "probes": [{"kind": "direct", "question": "Where was Mira Tallis born?", "answers": ["Oslo"],
                    "distractors": ["Paris"]}],
    })
    out = run_eval([CASE, second], tiny, fast, parse_systems("context"), batch=True)
    first, other = out["cases"]
    assert (first["case"], other["case"]) == ("v1", "v2")
    # one store for both cases (the repeated fact once); each prompt holds only the related fact
    assert first["facts_in_prompt"] == ["The capital of Vendaria is Lusk."]
    assert other["facts_in_prompt"] == ["Mira Tallis was born in Oslo."]
    assert out["updates"] == []
    assert out["systems"]["context"]["direct"]["n"] == 2


def test_answers_in_batches_are_the_answers_one_at_a_time(tiny, fast) -> None:
    second = parse_case({
        "id": "v2", "facts": ["Mira Tallis was born in Oslo."],
        "probes": [{"kind": "direct", "question": "Where was Mira Tallis born?", "answers": ["Oslo"],
                    "distractors": ["Paris"]},
                   {"kind": "locality", "question": "What is the capital of Japan?", "answers": ["Tokyo"],
                    "distractors": ["Kyoto"]}],
    })
    stages: list[tuple[str, str]] = []
    systems = parse_systems("large,context")
    batched = run_eval([CASE, second], tiny, fast, systems, batch=True, on_stage=lambda *s: stages.append(s))
    alone = run_eval([CASE, second], tiny, fast, systems, batch=True, answer_batch=1)
    assert [c["answer"] for c in batched["cases"]] == [c["answer"] for c in alone["cases"]]
    assert all(c["answer"] for c in batched["cases"]) and len(batched["cases"]) == 6
    assert ("batch: context", "3 greedy answers in one batch") in stages


def test_batch_updates_the_expert_once_for_all_cases(tiny, fast, monkeypatch) -> None:
    """--batch: one update per store over every case's facts (the training itself is beside the
    point here, and other tests run it: the update is recorded, not run)."""
    from amend.evaluation import runner

    calls = []
    monkeypatch.setattr(runner, "run_update", lambda ts, loaded, derive, on_stage, label: calls.append(
        (label, derive, ts.facts)) or {"facts": ts.facts})
    second = parse_case({
        "id": "v2", "facts": ["Mira Tallis was born in Oslo."],
        "probes": [{"kind": "direct", "question": "Where was Mira Tallis born?", "answers": ["Oslo"],
                    "distractors": ["Paris"]}],
    })
    out = run_eval([CASE, second], tiny, fast, parse_systems("seed-lora"), batch=True)
    assert calls == [("batch: seed", False, 2)]  # not one per case
    assert [(u["case"], u["store"]) for u in out["updates"]] == [("batch", "seed")]
    assert [r["case"] for r in out["cases"]] == ["v1", "v2"]


def test_dct_runs_the_full_pipeline_in_the_case_store(tiny, fast) -> None:
    out = run_eval([CASE], tiny, fast, parse_systems("large,dct"))
    large, dct = out["cases"]
    [update] = out["updates"]
    assert (update["store"], update["mode"], update["version"]) == ("dct", "full", 1)
    assert update["derived"] > 0 and update["examples"] > 3  # derived statements joined the facts
    assert set(update["timings"]) >= {"derive", "score", "train"}
    assert dct["margin"] > large["margin"] and dct["ranking"]


def test_a_failed_update_skips_its_systems_and_the_run_goes_on(tiny, fast, monkeypatch) -> None:
    from amend.training import worker

    def broken(*args, **kwargs):
        raise worker.UpdateFailed("update job(s) 1 failed: RuntimeError: out of memory")

    monkeypatch.setattr(worker, "run_pending", broken)
    out = run_eval([CASE], tiny, fast, parse_systems("large,dct"))
    assert [c["system"] for c in out["cases"]] == ["large"]
    assert out["updates"] == [{"case": "v1", "store": "dct", "error": "update job(s) 1 failed: RuntimeError: out of memory"}]
    assert out["systems"]["dct"] == {} and out["systems"]["large"]["direct"]["n"] == 1


def test_a_run_with_a_work_folder_continues_where_it_was_stopped(tiny, fast, tmp_path) -> None:
    """Stopped while the expert system answers, the same run given the same folder does not
    update or answer again what it finished, and its result is the whole run's."""
    from amend.evaluation.workdir import OtherRun

    second = parse_case({
        "id": "v2", "facts": ["Mira Tallis was born in Oslo."],
        "probes": [{"kind": "direct", "question": "Where was Mira Tallis born?", "answers": ["Oslo"],
                    "distractors": ["Paris"]}],
    })
    work, systems = tmp_path / "run", parse_systems("large,seed-lora")

    def stop_in_seed_lora(stage: str, detail: str) -> None:
        if stage == "batch: seed-lora":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_eval([CASE, second], tiny, fast, systems, batch=True, answer_batch=1, on_stage=stop_in_seed_lora, work=work)
    assert (work / "batch" / "seed" / "amend.db").is_file()

    stages: list[str] = []
    out = run_eval([CASE, second], tiny, fast, systems, batch=True, answer_batch=1, work=work,
                   on_stage=lambda stage, detail: stages.append(stage))
    assert "batch: large" not in stages and not any("update" in s for s in stages)  # done before
    assert "batch: seed-lora" in stages
    assert [(c["case"], c["system"]) for c in out["cases"]] == [
        ("v1", "large"), ("v2", "large"), ("v1", "seed-lora"), ("v2", "seed-lora")]
    [update] = out["updates"]
    assert (update["store"], update["version"], update["facts"]) == ("seed", 1, 2)
    assert set(out["stages"]) == {"batch: seed update", "batch: large", "batch: seed-lora"}
    assert out["systems"]["seed-lora"]["direct"]["n"] == 2

    again: list[str] = []  # everything answered: nothing runs, the same result
    same = run_eval([CASE, second], tiny, fast, systems, batch=True, work=work, on_stage=lambda s, d: again.append(s))
    assert again == [] and same["cases"] == out["cases"] and same["stages"] == out["stages"]

    with pytest.raises(OtherRun, match="other cases: 2 there, 1 here"):
        run_eval([CASE], tiny, fast, systems, batch=True, work=work)
