"""The training panel (stage, progress bar, loss sparkline, ETA) and the status line.

The panel shows the update the app runs itself (rich reports: loss and ETA) or, when none, the
running job another process (`amend worker`) writes into the store (stage and progress only).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar, Sparkline, Static

from amend.tui.services import UpdateProgress

MAX_LOSSES = 200  # points kept for the sparkline


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, int(round(seconds)))
    return f"ETA {seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"ETA {seconds}s"


class TrainingPanel(Vertical):
    """What the update does now, with its progress and ETA; below it, once training, the loss so far."""

    DEFAULT_CSS = """
    TrainingPanel { height: auto; padding: 0 1; background: $boost; }
    TrainingPanel Horizontal { height: 1; }
    TrainingPanel #stage { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    TrainingPanel ProgressBar { width: auto; }
    TrainingPanel #eta { width: 10; text-align: right; }
    TrainingPanel #loss-label { width: 16; }
    TrainingPanel Sparkline { width: 1fr; height: 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.losses: list[float] = []
        self.active = False

    def on_mount(self) -> None:
        # Hidden, not undisplayed: the bar keeps its width, which it needs to draw its first value.
        self.query_one("#bar").visible = False  # shown while an update runs and after it
        self.query_one("#loss-row").display = False  # shown once there is a loss to draw

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("No update running.", id="stage")
            yield ProgressBar(total=None, show_eta=False, id="bar")
            yield Label("", id="eta")
        with Horizontal(id="loss-row"):
            yield Label("", id="loss-label")
            yield Sparkline([], id="loss")

    def show(self, p: UpdateProgress) -> None:
        """Show one progress report (the first of an update clears the last one's loss curve)."""
        if not self.active:
            self.clear_losses()
        self.active = True
        job = f" job {p.job_id}" if p.job_id is not None else ""
        step = f" step {p.step}/{p.total}" if p.step is not None else ""
        extra = f" · {p.message}" if p.message else ""
        self.query_one("#stage", Label).update(Text(f"Update{job}: {p.stage}{step}{extra}"))
        bar = self.query_one("#bar", ProgressBar)
        bar.visible = True
        if p.progress is not None:
            bar.update(total=100, progress=round(100 * min(max(p.progress, 0.0), 1.0)))
        else:
            bar.update(total=None)
        self.query_one("#eta", Label).update(format_eta(p.eta_s))
        if p.loss is not None:
            self.losses = (self.losses + [p.loss])[-MAX_LOSSES:]
            self.query_one("#loss", Sparkline).data = list(self.losses)
            self.query_one("#loss-row").display = len(self.losses) > 1  # one point is no curve
            self.query_one("#loss-label", Label).update(f"loss {p.loss:.3f}")

    def finish(self, text: str) -> None:
        """The update ended: say how, keep the last loss curve."""
        self.active = False
        self.query_one("#stage", Label).update(text)
        bar = self.query_one("#bar", ProgressBar)
        bar.update(total=1, progress=1)
        self.query_one("#eta", Label).update("")

    def clear_losses(self) -> None:
        self.losses = []
        self.query_one("#loss", Sparkline).data = []
        self.query_one("#loss-row").display = False
        self.query_one("#loss-label", Label).update("")


class StatusLine(Static):
    """One line: profile, device, active adapter version, pending jobs."""

    DEFAULT_CSS = """
    StatusLine { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    """

    def set_status(self, profile: str, device: str, adapter: int | None, pending: int,
                   running: int | None = None) -> None:
        version = f"v{adapter}" if adapter is not None else "none"
        jobs = f"{pending} pending job{'s' if pending != 1 else ''}"
        if running is not None:
            jobs += f" · job {running} running"
        self.update(Text(f"profile {profile} · device {device} · adapter {version} · {jobs}"))
