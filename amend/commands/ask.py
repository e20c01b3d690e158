"""`amend ask`: answer one question with the proxy-tuned assistant, streamed to stdout."""

from __future__ import annotations

import json

import click

from .common import profile_option, progress_bars, settings


@click.command()
@click.argument("question")
@profile_option
@click.option("--alpha", "-a", type=float, default=None,
              help="Expert strength: large + alpha*(expert - base); 0 = the large model alone.")
@click.option("--max-tokens", "-n", "max_tokens", type=click.IntRange(min=1), default=None,
              help="Answer length limit in tokens (default: the max_new_tokens setting).")
@click.option("--context/--no-context", default=None,
              help="Put the active facts related to the question into the system prompt "
                   "(default: the context setting).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object: answer, tokens, seconds, adapter_version, alpha (the strength used), "
                   "scope (relevance, gate, the facts that opened it), context (facts in the prompt), profile.")
@click.option("--explain", is_flag=True, help="Also say on stderr whether the expert steered and why.")
def ask(question: str, profile: str | None, alpha: float | None, max_tokens: int | None, context: bool | None,
        as_json: bool, explain: bool) -> None:
    """Answer QUESTION; the expert trained on your facts steers the large model.

    The expert steers only questions about what it was taught: the scope gate compares the
    question with your facts and what was derived from them (and looks for their names), and
    gives the expert the strength alpha * gate. An unrelated question gets the large model's
    own answer, token for token (see the scope_threshold setting)."""
    if not question.strip():
        raise click.BadParameter("the question is empty", param_hint="QUESTION")
    from amend.assistant.scope import explain as explain_scope
    from amend.assistant.session import Assistant

    s = settings(profile=profile, alpha=alpha, max_new_tokens=max_tokens)
    with progress_bars(enabled=not as_json) as report:
        assistant = Assistant.load(s, on_progress=report)
    try:
        answer = assistant.ask(question, context=context)
        for piece in answer:
            if not as_json:
                click.echo(piece, nl=False)
        meta = answer.meta
        if as_json:
            click.echo(json.dumps({
                "answer": answer.text, "tokens": answer.tokens, "seconds": round(answer.seconds, 3),
                "adapter_version": meta["adapter_version"], "alpha": meta["alpha"], "steer_below": meta["steer_below"],
                "scope": meta["scope"],
                "context": meta["context"], "profile": meta["profile"], "finish_reason": answer.finish_reason,
            }, ensure_ascii=False))
        else:
            click.echo()
        if explain:
            click.echo(explain_scope(meta["scope"], meta["context"]), err=True)
    finally:
        assistant.close()
