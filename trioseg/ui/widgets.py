"""The app's widgets and the pure functions that draw them from a :class:`Progress`.

Everything shown is a function of the progress state, the widget's size and ``now``: times
come from trio's clock, the events' ``at`` (``progress.latest``) unless the app ticks a
live clock, never from the wall clock.  The segment map is one
widget drawing Rich text, whatever the number of segments; every state has its own glyph
so the screen reads without colour (``NO_COLOR``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import groupby
from typing import Any, cast

from rich.console import RenderableType
from rich.style import Style
from rich.text import Text
from textual.app import App
from textual.css.styles import RulesMap
from textual.events import Resize
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.visual import visualize
from textual.widget import Widget
from textual.widgets import DataTable, RichLog

from ..headless import format_bytes, format_duration, summary_lines
from ..progress import Progress, SegmentState
from .segmap import SegmentStates, cells_of

__all__ = [
    "GLYPHS",
    "FailedTable",
    "LogPane",
    "SegmentMap",
    "StatusBar",
    "StreamsView",
    "SummaryView",
    "failed_columns",
    "render_map",
    "render_status",
    "render_streams",
    "render_summary",
    "text_height",
]

GLYPHS: dict[SegmentState, str] = {
    "done": "█",
    "waiting": "·",
    "in_flight": "▒",
    "retrying": "!",
    "failed": "X",
}
_STYLES: dict[SegmentState, str] = {
    "done": "green",
    "waiting": "bright_black",
    "in_flight": "cyan",
    "retrying": "bold yellow",
    "failed": "bold red",
}
_NAMES: dict[SegmentState, str] = {
    "done": "done",
    "in_flight": "in flight",
    "waiting": "waiting",
    "retrying": "retrying",
    "failed": "failed",
}
_PREFIX = 7


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def render_map(
    progress: Progress, width: int, height: int, states: SegmentStates | None = None
) -> Text:
    """Every stream's segment map within ``width`` x ``height`` cells, and a legend."""
    states = states or SegmentStates()
    text = Text(no_wrap=True, overflow="crop")
    streams = list(progress.streams.values())
    if not streams:
        text.append("waiting for the manifest…", style="dim")
        return text
    avail = max(1, width - _PREFIX)
    rows_each = max(1, (height - 1) // len(streams))
    scales: list[tuple[str, int]] = []
    lines = 0
    for st in streams:
        cells, per = cells_of(states.of(st), rows_each * avail)
        scales.append((st.info.kind, per))
        for row in range(max(1, _ceil_div(len(cells), avail))):
            if lines:
                text.append("\n")
            lines += 1
            text.append(f"{st.info.kind[: _PREFIX - 1]:<{_PREFIX}}" if row == 0 else " " * _PREFIX)
            for state, run in groupby(cells[row * avail : (row + 1) * avail]):
                text.append(GLYPHS[state] * len(list(run)), style=_STYLES[state])
    text.append("\n")
    for state in ("done", "in_flight", "waiting", "retrying", "failed"):
        text.append(GLYPHS[state], style=_STYLES[state])
        text.append(f" {_NAMES[state]}  ", style="dim")
    bucketed = [(kind, per) for kind, per in scales if per > 1]
    if bucketed:
        pers = {per for _, per in bucketed}
        if len(pers) == 1:
            note = f"1 cell = {pers.pop()} segments"
        else:
            note = "cells: " + ", ".join(f"{kind} {per}" for kind, per in bucketed)
        text.append(note, style="dim")
    return text


def _bar(width: int, done: int, failed: int, total: int) -> Text:
    bar = Text(no_wrap=True)
    if width <= 0:
        return bar
    filled = width if total <= 0 else done * width // total
    bad = 0 if total <= 0 else min(width - filled, _ceil_div(failed * width, total))
    bar.append("█" * filled, style="green")
    bar.append("X" * bad, style="bold red")
    bar.append("░" * (width - filled - bad), style="bright_black")
    return bar


def _fit(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _elapsed(progress: Progress, now: float) -> float:
    if progress.started_at is None:
        return 0.0
    end = progress.finished_at if progress.finished_at is not None else now
    return max(0.0, end - progress.started_at)


def render_streams(
    progress: Progress,
    width: int,
    now: float | None = None,
    states: SegmentStates | None = None,
) -> Text:
    """One row per stream (two below 100 columns): kind, label, bar, counts, bytes,
    speed over the last seconds, ETA and segments in flight."""
    text = Text(no_wrap=True, overflow="crop")
    now = progress.latest if now is None else now
    states = states or SegmentStates()
    streams = list(progress.streams.values())
    digits = max((len(str(st.total)) for st in streams), default=1)
    for n, st in enumerate(streams):
        if n:
            text.append("\n")
        failed = len(st.failed)
        pct = 100 * st.done // st.total if st.total else 100
        counts = f"{st.done:>{digits}}/{st.total:<{digits}} {pct:>3}%"
        stats = (
            f"{format_bytes(st.bytes_done):>8}  {format_bytes(st.speed(now)) + '/s':>10}  "
            f"ETA {format_duration(None if st.done + failed >= st.total else st.eta(now)):>5}  "
            f"{states.in_flight(st):>2} conn"
        )
        kind = f"{st.info.kind[:6]:<{_PREFIX}}"
        if width >= 100:
            label_w = min(34, max(16, width // 3 - 6))
            bar_w = max(0, width - _PREFIX - label_w - len(counts) - len(stats) - 5)
            text.append(kind, style="bold")
            text.append(f"{_fit(st.info.label, label_w):<{label_w}} ")
            text.append_text(_bar(bar_w, st.done, failed, st.total))
            text.append(f"  {counts}  {stats}")
        else:
            label_w = max(0, width - _PREFIX - len(counts) - 2)
            text.append(kind, style="bold")
            text.append(f"{_fit(st.info.label, label_w):<{label_w}}  {counts}\n")
            bar_w = max(0, width - _PREFIX - len(stats) - 2)
            text.append(" " * _PREFIX)
            text.append_text(_bar(bar_w, st.done, failed, st.total))
            text.append(f"  {stats}")
    return text


def render_status(
    progress: Progress,
    width: int,
    running: bool,
    now: float | None = None,
    states: SegmentStates | None = None,
    *,
    prefix: str = "trioseg",
    name: str | None = None,
) -> Text:
    """The top line: ``prefix``, title (or ``name``), state, segments in flight, elapsed
    time, total speed."""
    now = progress.latest if now is None else now
    states = states or SegmentStates()
    if progress.status is not None:
        state, style = (
            progress.status.upper(),
            ("bold green" if progress.status == "complete" else "bold red"),
        )
    elif progress.paused:
        state, style = "PAUSED", "bold reverse yellow"
    elif progress.muxing is not None:
        state, style = "muxing", "bold cyan"
    elif progress.manifest_url is None:
        state, style = ("starting" if running else "stopped"), "bold"
    else:
        state, style = "downloading", "bold cyan"
    in_flight = sum(states.in_flight(st) for st in progress.streams.values())
    limit = progress.concurrency
    hosts = list(progress.hosts.values())
    if len(hosts) == 1 and hosts[0].limit is not None:
        limit = min(limit, hosts[0].limit)
    speed = sum(st.speed(now) for st in progress.streams.values())
    right = Text.assemble(
        (f" {state} ", style),
        f"  {in_flight}/{limit} conn  {format_bytes(speed)}/s  "
        f"{format_duration(_elapsed(progress, now))}",
    )
    name = progress.title or name or progress.manifest_url or ""
    left_w = max(0, width - right.cell_len - 1)
    left = Text.assemble((prefix, "bold"), " ", _fit(name, max(0, left_w - len(prefix) - 1)))
    left.truncate(left_w, pad=True)
    return Text.assemble(left, " ", right, no_wrap=True, overflow="crop")


def render_summary(progress: Progress, closing: bool) -> Text:
    """The end-of-run panel: the headless summary lines and what the keys do now."""
    text = Text("\n".join(summary_lines(progress)), no_wrap=True, overflow="ellipsis")
    failed = sum(len(st.failed) for st in progress.streams.values())
    if closing:
        text.append("\nclosing…", style="dim")
    elif progress.status == "complete":
        text.append("\npress q to quit", style="bold")
    elif failed:
        text.append(
            f"\npress r to fetch the {failed} failed segment(s) again, q to quit "
            "(a re-run resumes)",
            style="bold",
        )
    else:
        text.append("\npress r to run the job again, q to quit", style="bold")
    return text


def text_height(widget: Widget, text: Text, width: int) -> int:
    """The lines ``text`` takes in ``widget`` at ``width`` cells, wrapped as its styles say.

    An auto height is measured with what would be drawn at the width being laid out,
    not with what was drawn at the previous one."""
    if not width or not text.plain:
        return 0
    rules = cast(RulesMap, widget.styles)
    return visualize(widget, text, markup=False).get_height(rules, width)


class DrawnText(Widget):
    """A widget showing the text :meth:`draw` makes of its size: refreshed only when
    that text changes, laid out again only when its number of lines does.

    Its lines go to the screen through Rich directly (:meth:`render_line`): the text is
    one style per run of cells, never wrapped, so Textual's general text pipeline (a
    few milliseconds for a full segment map, on every redraw while downloading) is more
    than it needs; it still draws the widget while text in it is selected.  The CSS
    rules that align or wrap text are therefore not used here.  :meth:`render` still
    gives the text itself.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._drawn: Text | None = None
        self._drawn_size: Size | None = None
        #: the drawn text's lines, and each line's strip once drawn (None: not yet)
        self._lines: list[Text] = []
        self._strips: list[Strip | None] = []
        #: what the strips were drawn with: the widget's base style and width
        self._strips_for: tuple[Style, int] | None = None

    def draw(self, width: int, height: int) -> Text:
        return Text()

    def redraw(self) -> None:
        size = self.content_size
        text = self.draw(size.width, size.height)
        old, old_size = self._drawn, self._drawn_size
        if text == old and size == old_size:
            return
        before, strips = self._lines, self._strips
        self._keep(text, size)
        if old is not None and size == old_size and len(before) == len(self._lines):
            # only the lines that changed are drawn again (a map row, a bar)
            pairs = zip(before, self._lines, strict=True)
            changed = [y for y, (a, b) in enumerate(pairs) if a != b]
            for y in changed:
                strips[y] = None
            self._strips = strips
            self.refresh(*(Region(0, y, size.width, 1) for y in changed))
            return
        self.refresh(layout=len(before) != len(self._lines))

    def _keep(self, text: Text, size: Size) -> None:
        self._drawn, self._drawn_size = text, size
        self._lines = list(text.split("\n", allow_blank=True))
        self._strips = [None] * len(self._lines)

    def render(self) -> RenderableType:
        return self._text()

    def _text(self) -> Text:
        size = self.content_size
        if self._drawn is None or size != self._drawn_size:
            self._keep(self.draw(size.width, size.height), size)
        assert self._drawn is not None
        return self._drawn

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return text_height(self, self.draw(width, container.height), width)

    def render_line(self, y: int) -> Strip:
        if self.text_selection is not None:
            # a selection is painted by Textual's own text pipeline
            return super().render_line(y)
        width = self.content_size.width
        self._text()
        base = self.rich_style
        if self._strips_for != (base, width):
            self._strips_for = (base, width)
            self._strips = [None] * len(self._lines)
        if not 0 <= y < len(self._lines):
            return Strip.blank(width, base)
        strip = self._strips[y]
        if strip is None:
            strip = self._strips[y] = self._strip(self._lines[y], width, base)
        return strip

    def _strip(self, line: Text, width: int, base: Style) -> Strip:
        overflow = (self._drawn.overflow if self._drawn is not None else None) or "crop"
        line = line.copy()  # kept as drawn, to compare with the next text
        line.truncate(width, overflow=overflow)
        strip = Strip(line.render(self.app.console), line.cell_len)
        return strip.adjust_cell_length(width).apply_style(base)


class _ProgressView(DrawnText):
    """A widget drawn from the app's current progress."""

    progress: Progress
    now: float | None = None
    states: SegmentStates | None = None

    def __init__(self, progress: Progress, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.progress = progress

    def show(
        self, progress: Progress, now: float | None = None, states: SegmentStates | None = None
    ) -> None:
        self.progress = progress
        self.now = now
        self.states = states
        self.redraw()


class StatusBar(_ProgressView):
    running: bool = True

    def draw(self, width: int, height: int) -> Text:
        return render_status(self.progress, width, self.running, self.now, self.states)


class StreamsView(_ProgressView):
    def draw(self, width: int, height: int) -> Text:
        return render_streams(self.progress, width, self.now, self.states)


class SegmentMap(_ProgressView):
    def draw(self, width: int, height: int) -> Text:
        return render_map(self.progress, width, height, self.states)


class SummaryView(_ProgressView):
    closing: bool = False

    def draw(self, width: int, height: int) -> Text:
        return render_summary(self.progress, self.closing)


def failed_columns(width: int) -> tuple[int, int, int, int, int]:
    """Fixed widths of the failed table's columns (stream, index, URL, error, attempts)."""
    stream, index, attempts = 12, 6, 8
    rest = max(20, width - stream - index - attempts - 2 * 5 - 2)
    error = max(10, rest * 2 // 5)
    return stream, index, rest - error, error, attempts


class FailedTable(DataTable[str | Text]):
    """Failed segments in (stream, index) order: the first :attr:`LIMIT` of them, then a
    row counting the rest.  Rebuilt only when the failures or the width change."""

    LIMIT = 200

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True, show_cursor=False)
        self._width = -1
        self._version: int | None = None
        self._progress: Progress | None = None

    def on_resize(self) -> None:
        if self._progress is not None:
            self.sync(self._progress)

    def sync(self, progress: Progress, version: int | None = None) -> None:
        """Show the failures of ``progress``; ``version`` changes whenever they do."""
        same = progress is self._progress and version is not None and version == self._version
        self._progress = progress
        self._version = version
        width = self.content_size.width or self.size.width or 78
        if width != self._width:
            self._width = width
            same = False
            self.clear(columns=True)
            names: tuple[str | Text, ...] = (
                "stream",
                Text("index", justify="right"),
                "URL",
                "last error",
                Text("attempts", justify="right"),
            )
            for name, w in zip(names, failed_columns(width), strict=True):
                self.add_column(name, width=w, key=str(name))
        if same:
            return
        stream_w, _, url_w, error_w, _ = failed_columns(width)
        self.clear()
        shown = total = 0
        for st in progress.streams.values():
            for failure in st.failed:
                total += 1
                if shown == self.LIMIT:
                    continue
                shown += 1
                url = failure.url
                tail = url if len(url) <= url_w else "…" + url[len(url) - url_w + 1 :]
                self.add_row(
                    _fit(f"{st.info.kind} {st.info.id}", stream_w),
                    Text(str(failure.index), justify="right"),
                    tail,
                    _fit(failure.error, error_w),
                    Text(str(failure.attempts), justify="right"),
                )
        if total > shown:
            self.add_row("", "", f"… and {total - shown} more (see the log)", "", "")


class LogPane(RichLog):
    """The log: lines are wrapped at the pane's width, so they wait while it is hidden."""

    def __init__(self, *, id: str | None = None, max_lines: int = 1000) -> None:
        super().__init__(id=id, max_lines=max_lines, wrap=True, markup=False, min_width=20)
        self.backlog: deque[str] = deque(maxlen=max_lines)

    def add(self, lines: Iterable[str]) -> None:
        self.backlog.extend(lines)
        self.flush()

    def flush(self) -> None:
        width = self.scrollable_content_region.width
        if not self.display or width <= 0:
            return
        while self.backlog:
            self.write(Text(self.backlog.popleft()), width=width)

    def on_resize(self, event: Resize) -> None:
        self.flush()
        if self.auto_scroll:
            # a pane that shrank keeps showing the latest lines
            self.scroll_end(animate=False, immediate=False)


#: terminal rows from which the log pane is shown from the start
TALL = 36


def title_panes(app: App[Any]) -> None:
    """The border titles of the panes both views share, and the log shown from the start
    on a tall terminal."""
    app.query_one("#map").border_title = "segments"
    app.query_one("#failed").border_title = "failed segments"
    app.query_one("#log").border_title = "log"
    app.query_one("#summary").border_title = "summary"
    app.query_one("#log").display = app.size.height >= TALL
