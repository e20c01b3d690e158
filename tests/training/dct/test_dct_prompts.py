"""Prompts: rendering through the chat template or as plain text; no evaluation entity leaks in."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from amend.training.dct import prompts

DEV_CASES = Path(__file__).resolve().parents[4] / "shared" / "eval" / "dev-cases.jsonl"


def _all_prompt_text() -> str:
    parts = [prompts.IMPLICATIONS_SYSTEM, prompts.CORRELATIVE_SYSTEM, prompts.CONTRADICTIONS_SYSTEM,
             prompts.score_prompt("x"), prompts.JUDGE_SYSTEM, json.dumps(prompts.JUDGE_EXAMPLES),
             prompts.COMPOSE_SYSTEM, prompts.entail_prompt(["x"], "y"), prompts.compatible_prompt("x", "y")]
    for examples in (prompts.IMPLICATIONS_EXAMPLES, prompts.CORRELATIVE_EXAMPLES, prompts.CONTRADICTIONS_EXAMPLES,
                     prompts.QUESTION_EXAMPLES, prompts.COMPOSE_EXAMPLES):
        parts += [json.dumps(e) for e in examples]
    return "\n".join(parts)


@pytest.mark.skipif(not DEV_CASES.exists(), reason="no ../shared/eval/dev-cases.jsonl here")
def test_prompts_name_no_entity_of_the_evaluation_cases():
    text = _all_prompt_text()
    names = set()
    for line in DEV_CASES.read_text().splitlines():
        for fact in json.loads(line)["facts"]:
            # invented names: capitalised words after the first one, minus common words
            names.update(w for w in re.findall(r"\b[A-Z][a-z]+\b", fact)[1:] if len(w) > 3)
    common = {"Central", "Asia", "University", "Lisbon", "Cairo", "Perth", "Darwin", "Helsinki", "Ghent"}
    leaked = {n for n in names - common if re.search(rf"\b{n}\b", text)}
    assert not leaked


MQUAKE = DEV_CASES.parents[2] / "data" / "mquake"


@pytest.mark.skipif(not MQUAKE.exists(), reason="no ../shared/data/mquake here")
def test_the_real_places_of_the_composition_examples_are_in_no_evaluation_file():
    data = "\n".join(p.read_text() for p in [DEV_CASES, *MQUAKE.glob("*.json")])
    assert not [w for w in ("Mongolia", "Ulaanbaatar", "Baikal") if w in data]


def test_scoring_prompts_end_at_the_label():
    entail = prompts.entail_prompt(["The capital of Vendaria is Lusk.", "The mayor of Lusk is Orin Pell."],
                                   "The mayor of the capital of Vendaria is Orin Pell.")
    assert entail.endswith("Facts: The capital of Vendaria is Lusk. The mayor of Lusk is Orin Pell.\n"
                           "Statement: The mayor of the capital of Vendaria is Orin Pell.\nLabel:")
    both = prompts.compatible_prompt("The capital of Vendaria is Lusk.", "The capital of Vendaria is Brell.")
    assert both.endswith("Statement: The capital of Vendaria is Brell.\nBoth can be true. Label:")
    # every example block of a kind shares one prefix: the scorer runs it once (score.py)
    assert entail.startswith(prompts.entail_prompt(["x"], "y").rsplit("Facts: x", 1)[0])


@pytest.mark.slow
def test_generation_prompts_render_in_both_styles(tiny):
    tok = tiny.tokenizer
    chat = prompts.correlative_prompt(tok, "The capital of Vendaria is Lusk.", "The mayor of Lusk is Orin Pell.")
    assert chat.endswith("<|im_start|>assistant\n")  # ready for the answer
    assert "Fact 2: The mayor of Lusk is Orin Pell." in chat and "Edda Kroll" in chat
    assert chat.count("<|im_start|>user") == len(prompts.CORRELATIVE_EXAMPLES) + 1
    plain = prompts.implications_prompt(tok, "The capital of Vendaria is Lusk.", style="plain")
    assert "<|im_start|>" not in plain and plain.endswith("Fact: The capital of Vendaria is Lusk.\nAnswer:\n")
    assert prompts.question_prompt(tok, "Lusk is in Vendaria.").rstrip().endswith("assistant")
    ask, begun = prompts.question_about_subject(tok, "The planet Ardis orbits Velan.", "Ardis")
    assert ask == prompts.question_prompt(tok, "The planet Ardis orbits Velan.") and begun == "The planet Ardis"
    assert prompts.question_about_subject(tok, "Lusk is in Vendaria.", "Ardis") is None
    compose = prompts.compose_prompt(tok, "The Harrow Bridge is located in Cairo.")
    assert "Known: Ulaanbaatar is the capital of Mongolia. So:" in compose and compose.endswith("assistant\n")
