"""Ranking as the evaluation scores it: total log-probability of an answer after the question.

The question is chat-formatted (the user's turn, then the assistant's turn begins) and each
candidate answer is scored as its continuation. Imported by the training tests.
"""

from __future__ import annotations

from amend.training.dataset import chat_prompt


def log_probs(model, tokenizer, question: str, answers: list[str]) -> dict[str, float]:
    import torch

    prompt = tokenizer(chat_prompt(tokenizer, question), add_special_tokens=False)["input_ids"]
    scores = {}
    for answer in answers:
        ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = model(torch.tensor([prompt + ids])).logits.log_softmax(-1)[0]
        scores[answer] = sum(float(logp[len(prompt) + i - 1, t]) for i, t in enumerate(ids))
    return scores


def answer_ranks_first(model, tokenizer, question: str, answer: str, distractors: list[str]) -> bool:
    scores = log_probs(model, tokenizer, question, [answer, *distractors])
    return scores[answer] > max(scores[d] for d in distractors)
