"""`amend update` (pending jobs, in the foreground, with a progress bar) and `amend worker`.

`run_foreground(settings, profile)` is also what `amend facts add/edit/retract/import` call
after a change (unless --no-update). Training code is imported inside the functions: `amend
--help` stays fast.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from .common import profile_option, settings


@contextmanager
def update_progress(enabled: bool = True) -> Iterator[Callable]:
    """A progress display for pipeline Progress reports: stage, bar, step, loss and ETA.

    On a terminal a rich bar; otherwise one line per stage and a training line every few seconds.
    """
    if not enabled:
        yield lambda p: None
        return
    if not sys.stderr.isatty():
        last = {"stage": None, "t": 0.0}

        def plain(p) -> None:
            now = time.monotonic()
            if p.stage != last["stage"]:
                click.echo(f"{p.stage} ... {p.message}".rstrip(), err=True)
                last["stage"], last["t"] = p.stage, now
            elif p.step is not None and (now - last["t"] > 5 or p.step == p.total):
                click.echo(f"  step {p.step}/{p.total}  loss {p.loss:.3f}  ETA {p.eta_s:.0f} s", err=True)
                last["t"] = now
            elif p.step is None and p.eta_s is not None and p.message != last.get("message") and now - last["t"] > 5:
                click.echo(f"  {p.message}  ETA {p.eta_s:.0f} s", err=True)  # deriving an import's facts
                last["t"], last["message"] = now, p.message

        yield plain
        return

    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description:<9}"), BarColumn(),
               TextColumn("{task.percentage:>3.0f}%"), TextColumn("{task.fields[detail]}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("update", total=100, detail="")

        def rich_report(p) -> None:
            if p.step is not None:
                detail = f"step {p.step}/{p.total}  loss {p.loss:.3f}  ETA {p.eta_s:.0f} s"
            else:
                detail = p.message + (f"  ETA {p.eta_s:.0f} s" if p.eta_s is not None else "")
            bar.update(task, description=p.stage, completed=100 * p.progress, detail=detail)

        yield rich_report
        bar.update(task, description="done", completed=100)


def follow_running(store, on_progress: Callable, poll_s: float = 0.5, stale_after_s: float = 60) -> list[str]:
    """Show the progress of jobs another worker is running until they end; their final messages."""
    from datetime import timedelta

    from amend.store.schema import Job, utcnow
    from amend.training.pipeline import Progress

    messages: list[str] = []
    while True:
        with store.session(write=False) as session:
            running = session.query(Job).filter(Job.status == "running").order_by(Job.id).all()
            if not running:
                return messages
            if all(j.heartbeat is None or j.heartbeat < utcnow() - timedelta(seconds=stale_after_s) for j in running):
                ids = ", ".join(str(j.id) for j in running)
                return messages + [f"job {ids}: its worker stopped responding; run `amend update` to take it over"]
            job = running[0]
            on_progress(Progress(job.stage or "running", job.progress or 0.0, f"job {job.id} in {job.worker}: {job.message}"))
            watched = [j.id for j in running]
        time.sleep(poll_s)
        with store.session(write=False) as session:
            for job_id in watched:
                job = session.get(Job, job_id)
                if job.status in ("done", "failed", "cancelled"):
                    messages.append(f"job {job_id} {job.status}: {job.error or job.message}")


def run_foreground(settings_, profile: str | None = None, show_progress: bool = True, derive: bool = True) -> list:
    """Run the pending update jobs now with a progress display; print one line per run.

    Waits for jobs another worker is already running. Returns the UpdateResults.
    """
    from amend.store import open_store
    from amend.training.worker import run_pending

    store = open_store(settings_)
    try:
        with update_progress(show_progress) as report:
            results = run_pending(settings_, profile, report, store=store, derive=derive)
            followed = follow_running(store, report) if not results else []
        for r in results:
            click.echo(r.message)
        for m in followed:
            click.echo(m)
        if not results and not followed:
            click.echo("nothing to update: the expert is up to date")
        return results
    finally:
        store.dispose()


@click.command()
@profile_option
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--no-derive", is_flag=True, help="Train on the facts alone (no deductive closure; a baseline).")
def update(profile: str | None, quiet: bool, no_derive: bool) -> None:
    """Run the pending update jobs now: derive, score, train, activate a new adapter."""
    s = settings(profile=profile)
    run_foreground(s, s.profile, show_progress=not quiet, derive=not no_derive)


@click.command()
@profile_option
@click.option("--once", is_flag=True, help="Run what is pending now, then exit.")
@click.option("--poll", default=2.0, show_default=True, metavar="SECONDS", help="Seconds between looks at the queue.")
def worker(profile: str | None, once: bool, poll: float) -> None:
    """Run update jobs as they come (until ctrl-c or SIGTERM; the job in hand goes back to pending)."""
    from amend.training.worker import run_worker

    s = settings(profile=profile)

    def on_result(r) -> None:
        click.echo(f"{time.strftime('%H:%M:%S')} jobs {', '.join(map(str, r.job_ids)) or '-'}: {r.message}")

    with update_progress(True) as report:
        ready = None if once else (lambda w: click.echo(f"worker {w} ({s.profile}) waiting for jobs; ctrl-c stops it"))
        runs = run_worker(s, s.profile, once=once, poll_s=poll, on_progress=report, on_result=on_result, on_ready=ready)
    if once and not runs:
        click.echo("nothing to update: the expert is up to date")
