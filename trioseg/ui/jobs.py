"""A batch's own widgets and the pure functions that draw them (the job list, the
batch's top line, the selected job's line and the end-of-batch summary).

As in :mod:`.widgets`, everything shown is a function of the jobs' progress states, the
widget's size and ``now`` (trio's clock, never the wall clock).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
from rich.text import Text

from ..headless import batch_lines, batch_status, format_bytes, format_duration, summary_lines
from ..progress import Progress
from .segmap import SegmentStates
from .widgets import DrawnText, _fit, render_status

__all__ = [
    "JobView",
    "TextView",
    "batch_lines",
    "batch_status",
    "job_state",
    "list_window",
    "render_batch_status",
    "render_batch_summary",
    "render_job_line",
    "render_jobs",
]

#: what the job list shows of one job: its label (the manifest URL) and its progress
JobView = tuple[str, Progress]

_STATE_STYLES = {
    "waiting": "bright_black",
    "downloading": "cyan",
    "paused": "bold yellow",
    "muxing": "cyan",
    "complete": "green",
    "partial": "bold red",
    "failed": "bold red",
    "cancelled": "yellow",
}
_STATUS_W = 16
_BYTES_W = 9
_SPEED_W = 11


def job_state(progress: Progress, paused: bool = False) -> str:
    """waiting, downloading, paused, muxing, or how the job ended.

    ``paused`` says fetching is paused for every job (a job that starts while the batch
    is paused shows it before its first pause event)."""
    if progress.status is not None:
        return progress.status
    if progress.manifest_url is None:
        return "waiting"
    if progress.muxing is not None:
        return "muxing"
    if progress.paused or paused:
        return "paused"
    return "downloading"


def job_percent(progress: Progress) -> int:
    """Segments done, in percent of the job's segments."""
    done = sum(st.done for st in progress.streams.values())
    total = sum(st.total for st in progress.streams.values())
    return 100 * done // total if total else 0


def _speed(progress: Progress, now: float) -> float:
    return sum(st.speed(now) for st in progress.streams.values())


def _tail(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else "…" + text[len(text) - width + 1 :]


def list_window(selected: int, count: int, rows: int) -> int:
    """The first job shown when ``rows`` of ``count`` fit: the selected one is centred
    when it can be."""
    rows = max(1, rows)
    return min(max(0, selected - (rows - 1) // 2), max(0, count - rows))


def render_jobs(
    jobs: Sequence[JobView],
    width: int,
    height: int,
    selected: int,
    now: float,
    paused: bool = False,
) -> Text:
    """One row per job (as many as ``height`` allows, around the selected one): number,
    the label's tail, state with percentage, bytes and speed; the selected row is
    marked and reversed."""
    text = Text(no_wrap=True, overflow="crop")
    digits = len(str(len(jobs)))
    label_w = max(8, width - (1 + digits + 2 + 2 + _STATUS_W + 2 + _BYTES_W + 2 + _SPEED_W))
    first = list_window(selected, len(jobs), height)
    for n in range(first, min(len(jobs), first + max(1, height))):
        label, progress = jobs[n]
        if n > first:
            text.append("\n")
        state = job_state(progress, paused)
        row = Text(no_wrap=True, overflow="crop")
        row.append("▶" if n == selected else " ", style="bold")
        row.append(f"{n + 1:>{digits}}  ", style="bold")
        row.append(f"{_tail(label, label_w):<{label_w}}  ")
        if state in ("downloading", "paused", "muxing"):
            shown = f"{state:<11} {job_percent(progress):>3}%"
        else:
            shown = state
        row.append(f"{shown:<{_STATUS_W}}", style=_STATE_STYLES[state])
        started = progress.manifest_url is not None
        size = format_bytes(progress.bytes_done) if started else ""
        running = state in ("downloading", "paused")
        speed = format_bytes(_speed(progress, now)) + "/s" if running else ""
        row.append(f"  {size:>{_BYTES_W}}  {speed:>{_SPEED_W}}")
        row.truncate(width, pad=True)
        if n == selected:
            row.stylize("reverse")
        text.append_text(row)
    return text


def render_batch_status(
    progresses: Sequence[Progress],
    width: int,
    running: bool,
    now: float,
    states: Sequence[SegmentStates],
    paused: bool = False,
) -> Text:
    """The top line: jobs done, bytes, the batch's state, connections, speed, time."""
    started = [p for p in progresses if p.started_at is not None]
    ended = [p for p in progresses if p.status is not None]
    if len(ended) == len(progresses):
        status = batch_status(progresses)
        state, style = status.upper(), ("bold green" if status == "complete" else "bold red")
    elif not running:
        state, style = "stopped", "bold"
    elif paused:
        state, style = "PAUSED", "bold reverse yellow"
    elif not started:
        state, style = "starting", "bold"
    else:
        state, style = "downloading", "bold cyan"
    in_flight = sum(
        s.in_flight(st)
        for p, s in zip(progresses, states, strict=True)
        for st in p.streams.values()
    )
    limit = max((p.concurrency for p in started), default=0)
    speed = sum(_speed(p, now) for p in progresses)
    elapsed = 0.0
    if started:
        begin = min(p.started_at or 0.0 for p in started)
        finished = [p.finished_at for p in progresses if p.finished_at is not None]
        end = max(finished) if len(finished) == len(progresses) else now
        elapsed = max(0.0, end - begin)
    right = Text.assemble(
        (f" {state} ", style),
        f"  {in_flight}/{limit} conn  {format_bytes(speed)}/s  {format_duration(elapsed)}",
    )
    total = sum(p.bytes_done for p in progresses)
    left = Text.assemble(
        ("trioseg", "bold"),
        f"  {len(ended)}/{len(progresses)} jobs done  {format_bytes(total)}",
    )
    left.truncate(max(0, width - right.cell_len - 1), pad=True)
    return Text.assemble(left, " ", right, no_wrap=True, overflow="crop")


def render_job_line(
    number: int,
    total: int,
    label: str,
    progress: Progress,
    width: int,
    now: float,
    states: SegmentStates,
    paused: bool = False,
) -> Text:
    """The selected job's line above its streams: as the single view's top line."""
    prefix = f"job {number}/{total}"
    if progress.manifest_url is None and progress.status is None:
        line = Text.assemble((prefix, "bold"), " ", _fit(label, max(0, width - len(prefix) - 12)))
        line.truncate(max(0, width - 9), pad=True)
        line.append(" waiting ", style="bold")
        return line
    if paused and progress.status is None and not progress.paused:
        progress = _paused(progress)
    return render_status(progress, width, True, now, states, prefix=prefix, name=label)


def _paused(progress: Progress) -> Progress:
    return attrs.evolve(progress, paused=True)


def render_batch_summary(
    number: int,
    total: int,
    progress: Progress,
    lines: Sequence[str],
    closing: bool,
) -> Text:
    """The panel below the selected job once it or the batch has ended: the batch's
    lines (when it has ended), the job's summary and what the keys do now."""
    text = Text(no_wrap=True, overflow="ellipsis")
    out = list(lines[:1])
    if progress.status is not None:
        if progress.manifest_url is None:
            error = f": {progress.error}" if progress.error else ""
            out.append(f"job {number}/{total} {progress.status}{error}")
        else:
            job = summary_lines(progress)
            out += [f"job {number}/{total} {job[0]}", *job[1:]]
    text.append("\n".join(out))
    if not lines:
        return text
    if closing:
        text.append("\nclosing…", style="dim")
    elif lines[0].startswith("batch complete"):
        text.append("\npress q to quit", style="bold")
    else:
        text.append(
            "\npress q to quit; running the same command again fetches only what is missing",
            style="bold",
        )
    return text


Draw = Callable[[int, int], Text]


def _empty(width: int, height: int) -> Text:
    return Text()


class TextView(DrawnText):
    """A widget showing what a drawing function makes of its size."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._draw: Draw = _empty

    def draw(self, width: int, height: int) -> Text:
        return self._draw(width, height)

    def show(self, draw: Draw) -> None:
        self._draw = draw
        self.redraw()
