"""`amend eval`: score the systems on knowledge-update cases; `amend eval convert-mquake`."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from .common import profile_option, progress_bars, settings


@contextmanager
def eval_progress() -> Iterator[tuple]:
    """(on_answer, on_stage) on stderr: a rich bar of probe answers with ETA and the current stage;
    plain stage lines when stderr is not a terminal. stdout keeps only the result."""
    if not sys.stderr.isatty():
        last = {"stage": None}

        def plain_stage(stage: str, detail: str) -> None:
            if stage != last["stage"]:
                click.echo(stage, err=True)
                last["stage"] = stage

        yield (lambda done, total: None), plain_stage
        return

    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                  TextColumn("{task.fields[stage]}", style="dim"),
                  console=Console(stderr=True), transient=False,
                  speed_estimate_period=86400) as bar:  # ETA from the whole run: updates come in bursts
        task = bar.add_task("answers", total=None, stage="")  # stage: what runs now

        def on_answer(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        def on_stage(stage: str, detail: str) -> None:
            bar.update(task, stage=f"{stage}: {detail}"[:60])

        yield on_answer, on_stage


@click.group("eval", invoke_without_command=True)
@click.option("--cases", "cases_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Cases, one JSON object a line (see docs; e.g. ../shared/eval/dev-cases.jsonl).")
@profile_option
@click.option("--systems", default="large,context,seed-lora,dct,dct+context", show_default=True,
              help="Comma-separated systems to compare.")
@click.option("--batch", is_flag=True, help="Put every case's facts into one store (many edits at once).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N cases.")
@click.option("--answer-batch", type=click.IntRange(min=1), default=16, show_default=True,
              help="Greedy answers computed together in one batch (the same answers, faster; 1: one at a time).")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the run in this folder (stores, updates, answers so far) and continue the run "
                   "there if there is one: give the same command again after an interruption.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write a Markdown report to this file.")
@click.pass_context
def eval_cmd(ctx: click.Context, cases_file: Path | None, profile: str | None, systems: str, batch: bool,
         limit: int | None, answer_batch: int, work: Path | None, as_json: bool, out: Path | None) -> None:
    """Score the systems on knowledge-update cases: after the case's facts, does each system
    answer the probes (direct, paraphrase, multihop, locality)?

    Each case runs in temporary stores of its own (never your facts); the seed-lora and dct
    systems train experts there. Scores per system and probe kind: ranking (the right answer
    outscores every distractor) and generation (the greedy answer contains it). A long run
    (--batch over hundreds of cases is hours on a CPU) can be given a --work folder: stopped, it
    continues from its last finished answer and its last training checkpoint.
    """
    if ctx.invoked_subcommand is not None:
        return
    if cases_file is None:
        raise click.UsageError("--cases FILE is required (or use a subcommand: convert-mquake)")
    from amend.evaluation.cases import load_cases
    from amend.evaluation.systems import parse_systems

    chosen = parse_systems(systems)
    cases = load_cases(cases_file, limit)
    if out is not None and not out.parent.is_dir():
        raise click.BadParameter(f"folder {out.parent} does not exist", param_hint="--out")
    s = settings(profile=profile)
    if work is not None:  # another run's folder is refused now, not after the models load
        from amend.evaluation.workdir import WorkDir, identity

        WorkDir.open(work, identity(cases, s.profile, batch, s))

    from amend.evaluation.report import markdown_report, print_tables
    from amend.evaluation.runner import run_eval
    from amend.models.load import load_profile

    with progress_bars() as report:
        loaded = load_profile(settings=s, on_progress=report)
    with eval_progress() as (on_answer, on_stage):
        result = run_eval(cases, loaded, s, chosen, batch=batch, answer_batch=answer_batch, on_answer=on_answer,
                          on_stage=on_stage, work=work)
    if out is not None:
        command = "amend eval " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if len(sys.argv) > 2 else ""
        out.write_text(markdown_report(result, command), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        print_tables(result)


@eval_cmd.command("convert-mquake")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the cases (JSON lines).")
@click.option("--split", type=click.Choice(["all", "dev", "test"]), default="all", show_default=True,
              help="dev: AKEW-MQuAKE-CF cases below case_id 2000 (for tuning); test: the rest.")
def convert_mquake(file: Path, output: Path, split: str) -> None:
    """Convert MQuAKE cases (e.g. ../shared/data/mquake/AKEW-MQuAKE-CF.json) into eval cases."""
    from amend.evaluation.cases import write_cases
    from amend.evaluation.mquake import convert_file

    cases = convert_file(file, split)
    n = write_cases(cases, output)
    probes = sum(len(c.probes) for c in cases)
    click.echo(f"{n} cases ({probes} probes) written to {output}")
