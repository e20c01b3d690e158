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
@click.option("--context", is_flag=True, help="Put the most related active facts into the system prompt.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (answer, tokens, seconds, adapter_version, alpha, profile).")
def ask(question: str, profile: str | None, alpha: float | None, max_tokens: int | None, context: bool,
        as_json: bool) -> None:
    """Answer QUESTION; the expert trained on your facts steers the large model."""
    if not question.strip():
        raise click.BadParameter("the question is empty", param_hint="QUESTION")
    from amend.assistant.session import Assistant

    s = settings(profile=profile, alpha=alpha, max_new_tokens=max_tokens)
    with progress_bars(enabled=not as_json) as report:
        assistant = Assistant.load(s, on_progress=report)
    try:
        answer = assistant.ask(question, context=context)
        for piece in answer:
            if not as_json:
                click.echo(piece, nl=False)
        if as_json:
            click.echo(json.dumps({
                "answer": answer.text, "tokens": answer.tokens, "seconds": round(answer.seconds, 3),
                "adapter_version": answer.meta["adapter_version"], "alpha": answer.meta["alpha"],
                "profile": answer.meta["profile"], "finish_reason": answer.finish_reason,
            }, ensure_ascii=False))
        else:
            click.echo()
    finally:
        assistant.close()
