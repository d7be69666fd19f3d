"""The ``trioseg`` command line."""

from __future__ import annotations

import argparse
import functools
import gc
import json
import math
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import attrs
import trio

from . import __version__
from .config import (
    NOT_CONFIGURABLE,
    HostConfig,
    default_config_path,
    environment_values,
    load_config,
    parse_bool,
)
from .engine import (
    Emit,
    JobConfig,
    JobControl,
    JobOutcome,
    Session,
    planned_outputs,
    run_job,
)
from .errors import TriosegError, UsageError
from .events import Event, EventConsumer, JobFinished, JobPaused, Listing, Notice, Status
from .fetch import Fetcher, NetworkOptions, open_fetcher
from .formats import (
    format_table,
    list_formats,
    parse_format_spec,
    period_notes,
    plan_json,
    rows_json,
    select,
)
from .headless import Reporter, batch_lines, batch_status
from .mpd import Manifest, ManifestLimits
from .naming import DEFAULT_TEMPLATE, container_for, fill_template, template_fields
from .plan import Plan, SegmentRef
from .prepare import check_fetchable, complete_plan, load_manifest
from .progress import Progress
from .ratelimit import parse_rate
from .retry import RetryPolicy
from .select import select_default
from .store import SegmentStore

__all__ = ["build_parser", "main", "run"]

EXIT_OK = 0
EXIT_DOWNLOAD_FAILED = 1
EXIT_USAGE = 2
#: the manifest is retried less than segments: nothing can start without it
MANIFEST_RETRIES = 3
#: exit status for a run stopped by a signal: 128 + the signal number
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

EPILOG = """\
exit codes:
  0    complete: every segment downloaded and the output written
  1    partial or failed download (some or all segments failed, or the output
       could not be written); re-running the same command resumes
  2    usage or manifest error (one line on stderr)
  130  interrupted (SIGINT, Ctrl+C); 143 SIGTERM; 129 SIGHUP

--json prints one JSON object per line on stdout, each with an "event" key; the
last line is {"event": "finished", "status": "complete|partial|failed|cancelled",
"outputs": [...], "streams": [...]}.
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"trioseg: error: {message}\n")


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or any(c.isspace() for c in name):
        raise argparse.ArgumentTypeError(f"malformed header {text!r} (expected 'Name: value')")
    return name, value.strip()


def _rate(text: str) -> float:
    try:
        return parse_rate(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="trioseg",
        description="Download an MPEG-DASH presentation: the best video and audio, "
        "segments fetched concurrently, muxed into one MP4.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "urls",
        nargs="*",
        metavar="URL",
        help="MPD manifest URLs (http or https) or a local .mpd file; several make a batch",
    )
    sel = p.add_argument_group("selection")
    sel.add_argument(
        "-f",
        "--format",
        metavar="SPEC",
        help="what to download (default: video?+audio?): items joined by + or , each "
        "'all', a representation id, or KIND[FILTER]...[?] with KIND video/audio/text and "
        "filters height/width/bandwidth/fps (<= >= < > = !=), lang=, codec=, id=, role=, "
        "period=; a selector takes the best match, a trailing ? makes it optional. "
        "Example: 'video[height<=720][codec=avc]+audio[lang=en]+audio[lang=fr]'",
    )
    sel.add_argument(
        "-F",
        "--list-formats",
        action="store_true",
        help="list every representation (id, kind, codecs, resolution, fps, bandwidth, "
        "language, role, segments, duration, estimated size, encryption) and exit",
    )
    sel.add_argument(
        "--simulate",
        action="store_true",
        help="plan only: show (or with --json print as a 'plan' event) every segment "
        "that would be fetched, in order, and download nothing",
    )
    live = p.add_argument_group("live (type=dynamic manifests)")
    live.add_argument(
        "--live-from-start",
        action="store_true",
        help="record from the start of the time-shift window (catching up in parallel), "
        "not from the live edge",
    )
    live.add_argument(
        "--duration",
        metavar="SECONDS",
        type=_seconds,
        help="stop a live recording after this much media (default: until the event ends "
        "or q/Ctrl+C)",
    )
    sel.add_argument(
        "--base-url",
        metavar="URL",
        help="resolve relative references as if the manifest had been fetched from URL "
        "(for a manifest saved to a local file)",
    )
    sel.add_argument(
        "--max-segments",
        metavar="N",
        type=_positive_int,
        default=ManifestLimits().max_segments,
        help="refuse a stream with more segments than this (default: %(default)s)",
    )
    sel.add_argument(
        "--max-manifest-size",
        metavar="BYTES",
        type=_positive_int,
        default=ManifestLimits().max_bytes,
        help="refuse a manifest larger than this (default: %(default)s)",
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        type=Path,
        help="output file or template with {title} {id} {height} {lang} {ext}; missing "
        "folders are created (default: '{title}.{ext}' in the current folder; title from "
        "ProgramInformation, else the manifest's file name)",
    )
    out.add_argument(
        "--container",
        choices=("mp4", "mkv"),
        help="the output container (default: from the -o extension, else mp4); mkv also "
        "embeds subtitles",
    )
    out.add_argument(
        "--keep-segments",
        action="store_true",
        help="write every segment to a file of its own and keep them, with the "
        "journal (the work folder beside the output), after a verified mux",
    )
    out.add_argument(
        "--no-mux",
        action="store_true",
        help="keep one file per stream (init segment + media segments, byte for byte) "
        "instead of muxing: OUTPUT_STEM.video-ID.mp4, OUTPUT_STEM.audio-ID.m4a",
    )
    out.add_argument("--force", action="store_true", help="overwrite existing output files")
    out.add_argument(
        "--fresh",
        action="store_true",
        help="discard what an earlier interrupted run of the same output downloaded "
        "and start over (needed when the manifest changed)",
    )
    dl = p.add_argument_group("downloading")
    dl.add_argument(
        "-N",
        "--concurrency",
        metavar="N",
        type=_positive_int,
        default=16,
        help="segment requests in flight at once, for the whole run (default: 16)",
    )
    dl.add_argument(
        "-a",
        "--batch-file",
        metavar="FILE",
        help="read more manifest URLs from FILE, one per line ('#' starts a comment; "
        "'-' reads standard input)",
    )
    dl.add_argument(
        "--jobs",
        metavar="J",
        type=_positive_int,
        default=1,
        help="download up to J manifests at once, all within the -N connection budget (default: 1)",
    )
    dl.add_argument(
        "--retries",
        metavar="N",
        type=_non_negative_int,
        default=10,
        help="retries per segment after transient errors, with exponential backoff "
        "and jitter, honouring Retry-After (default: 10)",
    )
    dl.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        default=30.0,
        help="abandon and retry a request that receives nothing for this long (default: 30)",
    )
    dl.add_argument(
        "--connect-timeout",
        metavar="SECONDS",
        type=_seconds,
        help="give up connecting after this long (default: the --timeout value)",
    )
    dl.add_argument(
        "--limit-rate",
        metavar="RATE",
        type=_rate,
        help="cap the whole run's download rate, in bytes per second: 500K, 2.5M (K = 1024)",
    )
    net = p.add_argument_group("network")
    net.add_argument(
        "-H",
        "--header",
        metavar="'NAME: VALUE'",
        type=_header,
        action="append",
        default=[],
        help="an extra request header for the manifest and every segment (repeatable)",
    )
    net.add_argument("--user-agent", metavar="UA", help="the User-Agent header to send")
    net.add_argument(
        "--cookies",
        metavar="FILE",
        type=Path,
        help="send the cookies of a Netscape-format cookies file (as exported by browsers)",
    )
    net.add_argument(
        "--proxy",
        metavar="URL",
        help="use this HTTP proxy (default: the HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and "
        "NO_PROXY environment variables)",
    )
    net.add_argument("--http2", action="store_true", help="use HTTP/2 where the origin offers it")
    net.add_argument(
        "--no-check-certificate",
        action="store_true",
        help="do not verify TLS certificates (insecure; a warning is printed). "
        "A private CA can be trusted with SSL_CERT_FILE instead",
    )
    show = p.add_argument_group("display")
    show.add_argument(
        "--headless",
        action="store_true",
        help="plain progress lines on stderr instead of the full-screen display "
        "(chosen anyway when stderr is not a terminal)",
    )
    show.add_argument(
        "--json",
        action="store_true",
        help="print one JSON event per line on stdout (see below); implies --headless",
    )
    cfg = p.add_argument_group("configuration")
    cfg.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        help="read options from this TOML file (default: $XDG_CONFIG_HOME/trioseg/config.toml "
        "when it exists); precedence: command line > TRIOSEG_* environment > file",
    )
    cfg.add_argument("--ignore-config", action="store_true", help="read no configuration file")
    p.add_argument(
        "--demo",
        action="store_true",
        help="serve a built-in DASH presentation on 127.0.0.1 and download it "
        "(works offline; default output trioseg-demo.mp4)",
    )
    p.add_argument("--version", action="version", version=f"trioseg {__version__}")
    return p


@attrs.frozen
class Options:
    url: str
    output: Path | None
    concurrency: int
    retries: int
    timeout: float
    mux: bool
    force: bool
    json: bool
    demo: bool = False
    headless: bool = False
    fresh: bool = False
    verify: bool = True
    network: NetworkOptions | None = None
    host_limits: Mapping[str, int] = attrs.Factory(dict)
    #: every manifest of the run (a batch when several); ``url`` is the one of this job
    urls: tuple[str, ...] = ()
    jobs: int = 1
    format: str | None = None
    list_formats: bool = False
    simulate: bool = False
    base_url: str | None = None
    limits: ManifestLimits = attrs.Factory(ManifestLimits)
    #: "mp4" or "matroska" when --container was given; else the -o extension decides
    container: str | None = None
    keep_segments: bool = False
    live_from_start: bool = False
    live_duration: float | None = None
    #: in a batch, ``-o`` names a folder and each job picks a name inside it
    output_dir: Path | None = None
    namer: Callable[[Path], Awaitable[Path]] | None = None

    @property
    def net(self) -> NetworkOptions:
        return self.network or NetworkOptions(timeout=self.timeout, verify=self.verify)


def _check_outputs(plan: Plan, config: JobConfig, force: bool) -> None:
    """Refuse to overwrite files, except our own partial result of an earlier run (its
    work folder is still there) or with ``--force``."""
    paths = [Path(info) for info in planned_outputs(plan, config)]
    resuming = SegmentStore.for_output(config.output).workdir.is_dir()
    if not force and not resuming:
        for path in paths:
            if path.exists():
                raise UsageError(f"output exists: {path} (use --force to overwrite)")
    try:
        config.output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create folder {config.output.parent}: {exc.strerror or exc}"
        ) from None


async def _download(
    options: Options,
    fetcher: Fetcher,
    emit: Emit,
    control: JobControl,
    session: Session | None = None,
) -> JobOutcome:
    policy = RetryPolicy(retries=options.retries)
    limits = options.limits
    if not options.net.verify:
        emit(Notice("TLS certificate verification is disabled (--no-check-certificate)"))
    manifest = await load_manifest(
        fetcher,
        options.url,
        attrs.evolve(policy, retries=min(policy.retries, MANIFEST_RETRIES)),
        limits=limits,
        base_url=options.base_url,
        emit=emit,
    )
    if options.list_formats:
        rows = list_formats(manifest, limits=limits)
        notes = period_notes(manifest)
        data = {"manifest": manifest.url, "formats": rows_json(rows), "period_notes": list(notes)}
        emit(Listing("formats", data, format_table(rows, notes=notes), trio.current_time()))
        return JobOutcome("complete", ())
    if manifest.is_live and not options.list_formats:
        return await _record(options, manifest, fetcher, emit, control, session, policy)
    plan = select(manifest, options.format, limits=limits) if options.format else None
    plan = plan or select_default(manifest, limits=limits)
    plan = await complete_plan(fetcher, plan, policy, limits=limits, emit=emit)
    check_fetchable(plan)
    if options.simulate:
        emit(Listing("plan", plan_json(plan), _plan_text(plan), trio.current_time()))
        return JobOutcome("complete", ())
    config = await _job_config(options, manifest, plan, policy)
    _check_outputs(plan, config, options.force)
    return await run_job(plan, config, fetcher, emit, control=control, session=session)


async def _job_config(
    options: Options, manifest: Manifest, plan: Plan, policy: RetryPolicy
) -> JobConfig:
    """The job's settings, with its output named from ``-o`` (a template or a path), the
    batch folder, or the default template, and its container chosen."""
    source = options.base_url or manifest.url
    named = str(options.output) if options.output is not None else None
    container = container_for(named, options.container)
    fields = template_fields(plan, manifest.title, source, container)
    template = named if named is not None and options.output_dir is None else DEFAULT_TEMPLATE
    output = fill_template(template, fields)
    if options.output_dir is not None:
        output = options.output_dir / output
    output = Path(os.path.abspath(output))
    if options.namer is not None:
        output = await options.namer(output)
    return JobConfig(
        output=output,
        concurrency=options.concurrency,
        retry=policy,
        mux=options.mux,
        fresh=options.fresh,
        host_limits=options.host_limits,
        container=container,
        keep_segments=options.keep_segments,
    )


async def _record(
    options: Options,
    manifest: Manifest,
    fetcher: Fetcher,
    emit: Emit,
    control: JobControl,
    session: Session | None,
    policy: RetryPolicy,
) -> JobOutcome:
    """A dynamic manifest: record it live."""
    from .livejob import LiveOptions, record_live

    if options.simulate:
        raise UsageError("--simulate plans static manifests only; this one is live")
    source = options.base_url or manifest.url
    config = await _job_config(options, manifest, Plan(source, ()), policy)
    output = config.output
    if output.exists() and not options.force and config.mux:
        raise UsageError(f"output exists: {output} (use --force to overwrite)")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create folder {output.parent}: {exc.strerror or exc}") from None
    live = LiveOptions(from_start=options.live_from_start, duration=options.live_duration)
    return await record_live(
        manifest,
        source,
        options.format,
        config,
        fetcher,
        emit,
        control=control,
        options=live,
        limits=options.limits,
        session=session,
    )


def _plan_text(plan: Plan) -> str:
    """The human form of ``--simulate``: each stream, its first and last requests."""

    def show(ref: SegmentRef) -> str:
        return f"    {ref.url}" + (f" bytes {ref.byte_range}" if ref.byte_range else "")

    lines = [f"plan for {plan.manifest_url} (nothing downloaded):"]
    lines += [f"  note: {note}" for note in plan.period_notes]
    for stream in plan.streams:
        refs = ([stream.init] if stream.init else []) + list(stream.segments)
        lines.append(f"  {stream.kind} {stream.id}: {stream.label}, {len(refs)} requests")
        if len(refs) <= 4:
            lines += [show(ref) for ref in refs]
        else:
            lines += [show(refs[0]), show(refs[1]), "    ...", show(refs[-1])]
    return "\n".join(lines)


async def download(
    options: Options,
    consumer: EventConsumer,
    control: JobControl | None = None,
    *,
    watch_signals: bool = True,
    fetcher: Fetcher | None = None,
    session: Session | None = None,
) -> int:
    """Fetch, plan and download one manifest, reporting to ``consumer``; the exit code.

    SIGINT, SIGTERM and SIGHUP cancel the job gracefully when ``watch_signals`` (a front
    end that handles signals itself calls ``control.cancel(signum)`` instead).  A batch
    passes the ``fetcher`` and ``session`` its jobs share.
    """
    control = control or JobControl()
    send, receive = trio.open_memory_channel[Event](math.inf)
    finished: list[JobFinished] = []

    def emit(event: Event) -> None:
        if isinstance(event, JobFinished):
            finished.append(event)
        send.send_nowait(event)

    control.emit = emit
    if control.paused:  # a batch job that starts while the batch is paused
        emit(JobPaused(True, trio.current_time()))
    error: TriosegError | None = None
    outcome: JobOutcome | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer.consume, receive)
        with send:
            async with trio.open_nursery() as watcher:
                if watch_signals:
                    watcher.start_soon(_watch_signals, control)
                with control.scope:
                    try:
                        if fetcher is not None:
                            outcome = await _download(options, fetcher, emit, control, session)
                        else:
                            async with open_fetcher(
                                concurrency=options.concurrency, network=options.net
                            ) as own:
                                outcome = await _download(options, own, emit, control, session)
                    except TriosegError as exc:
                        error = exc
                watcher.cancel_scope.cancel()
            if not finished:
                status: Status = "failed"
                if control.scope.cancelled_caught:
                    status = "cancelled"
                elif outcome is not None:
                    status = outcome.status
                emit(JobFinished(status, (), str(error) if error else None, trio.current_time()))
    # stopped by the user: a signal, q, or a live recording ended gracefully by either
    stopped = outcome is not None and outcome.status == "cancelled"
    if control.scope.cancelled_caught or control.signal is not None or stopped:
        return 128 + (control.signal or signal.SIGINT)
    if error is not None:
        return error.exit_code
    assert outcome is not None
    return EXIT_OK if outcome.status == "complete" else EXIT_DOWNLOAD_FAILED


def read_batch_file(name: str) -> list[str]:
    """URLs from a batch file: one per line, blank lines and ``#`` comments skipped."""
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read batch file {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"batch file {name} is not UTF-8 text") from None
    urls = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if urlsplit(line).scheme not in ("http", "https"):
            raise UsageError(f"{name}:{number}: not an http(s) URL: {line!r}")
        urls.append(line)
    return urls


class _Namer:
    """Gives each job of a batch its own output name (``name-2.mp4`` on a clash), in
    the order of the URLs whatever order the jobs reach this point in, so that a
    re-run names (and resumes) every output the same way."""

    def __init__(self, jobs: int) -> None:
        self.taken: set[Path] = set()
        self.turns = [trio.Event() for _ in range(jobs)]

    def for_job(self, index: int) -> Callable[[Path], Awaitable[Path]]:
        async def claim(path: Path) -> Path:
            if index:
                await self.turns[index - 1].wait()
            candidate, n = path, 1
            while candidate in self.taken:
                n += 1
                candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
            self.taken.add(candidate)
            self.turns[index].set()
            return candidate

        return claim


async def download_batch(
    options: Options,
    consumers: Sequence[EventConsumer],
    controls: Sequence[JobControl] | None = None,
    *,
    watch_signals: bool = True,
) -> int:
    """Download every manifest of ``options.urls``, ``options.jobs`` at a time, within
    one connection budget (``-N``) and one view of each host; the exit code.

    Each job reports to its own consumer and obeys its own control; a signal (when
    ``watch_signals``) cancels them all, jobs not started yet included.
    """
    session = Session.create(options.concurrency, options.host_limits)
    slots = trio.CapacityLimiter(options.jobs)
    controls = list(controls) if controls is not None else [JobControl() for _ in options.urls]
    codes: list[int] = [EXIT_DOWNLOAD_FAILED] * len(options.urls)
    namer = _Namer(len(options.urls))

    async def one(index: int, url: str, token: object) -> None:
        try:
            job = attrs.evolve(
                options,
                url=url,
                output=None,
                output_dir=options.output,
                namer=namer.for_job(index),
            )
            codes[index] = await download(
                job,
                consumers[index],
                controls[index],
                watch_signals=False,
                fetcher=fetcher,
                session=session,
            )
        finally:
            slots.release_on_behalf_of(token)
            namer.turns[index].set()  # a job that never named its output passes its turn

    async def watch() -> None:
        with trio.open_signal_receiver(*SIGNALS) as received:
            async for signum in received:
                for control in controls:
                    control.cancel(signum)

    async with (
        open_fetcher(concurrency=options.concurrency, network=options.net) as fetcher,
        trio.open_nursery() as nursery,
    ):
        if watch_signals:
            nursery.start_soon(watch)
        async with trio.open_nursery() as jobs:
            for index, url in enumerate(options.urls):
                # jobs start in URL order: a later one never holds the slot an
                # earlier one waits for
                token = object()
                await slots.acquire_on_behalf_of(token)
                jobs.start_soon(one, index, url, token)
        nursery.cancel_scope.cancel()
    stopped = [c for c in controls if c.signal is not None or c.scope.cancel_called]
    if stopped:
        return 128 + (stopped[0].signal or signal.SIGINT)
    return EXIT_OK if all(code == EXIT_OK for code in codes) else EXIT_DOWNLOAD_FAILED


async def _watch_signals(control: JobControl) -> None:
    """SIGINT, SIGTERM and SIGHUP cancel the job gracefully (the consumer still drains)."""
    with trio.open_signal_receiver(*SIGNALS) as signals:
        async for signum in signals:
            # a live recording stops gracefully on the first signal, at once on the second
            control.cancel(signum)


def _configured_defaults(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> tuple[dict[str, Any], dict[str, HostConfig]]:
    """Defaults from the configuration file, then the environment (which wins)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", type=Path)
    pre.add_argument("--ignore-config", action="store_true")
    known, _ = pre.parse_known_args(argv)
    actions = {a.dest: a for a in parser._actions if a.dest not in NOT_CONFIGURABLE}
    values: dict[str, Any] = {}
    hosts: dict[str, HostConfig] = {}
    if not known.ignore_config:
        path = known.config or default_config_path()
        config = load_config(path, required=known.config is not None)
        hosts = dict(config.hosts)
        for dest, raw in config.values.items():
            values[dest] = _convert(actions, dest, raw, f"config {path}")
    for dest, raw in environment_values().items():
        where = f"environment TRIOSEG_{dest.upper()}"
        if dest == "header":
            raw = [line for line in raw.splitlines() if line.strip()]
        values[dest] = _convert(actions, dest, raw, where)
    return values, hosts


def _convert(actions: dict[str, argparse.Action], dest: str, raw: Any, where: str) -> Any:
    action = actions.get(dest)
    if action is None:
        raise UsageError(f"{where}: unknown option {dest.replace('_', '-')!r}")
    if action.nargs == 0:  # a flag
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            return parse_bool(raw, where)
        raise UsageError(f"{where}: expected true or false, got {raw!r}")
    items = raw if isinstance(action, argparse._AppendAction) else [raw]
    if isinstance(action, argparse._AppendAction) and not isinstance(raw, list):
        items = [raw]
    converted = []
    for item in items:
        if isinstance(item, (dict, list)):
            raise UsageError(f"{where}: unexpected value {item!r}")
        text = str(item).lower() if isinstance(item, bool) else str(item)
        try:
            converted.append(action.type(text) if callable(action.type) else text)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise UsageError(f"{where}: {exc}") from None
    return converted if isinstance(action, argparse._AppendAction) else converted[0]


def _options(argv: Sequence[str] | None) -> Options:
    parser = build_parser()
    try:
        defaults, hosts = _configured_defaults(parser, argv)
    except UsageError as exc:
        parser.exit(EXIT_USAGE, f"trioseg: error: {exc}\n")
    parser.set_defaults(**defaults)
    args = parser.parse_args(argv)
    urls = list(args.urls)
    if args.batch_file is not None:
        try:
            urls += read_batch_file(args.batch_file)
        except UsageError as exc:
            parser.error(str(exc))
    if args.demo and urls:
        parser.error("--demo takes no URL")
    if not args.demo and not urls:
        parser.error("a manifest URL is required (or --demo)")
    for url in urls:
        if urlsplit(url).scheme not in ("http", "https") and not Path(url).is_file():
            parser.error(f"not an http(s) URL or a manifest file: {url!r}")
    if args.base_url is not None and urlsplit(args.base_url).scheme not in ("http", "https"):
        parser.error(f"--base-url must be an http(s) URL, got {args.base_url!r}")
    if args.format is not None:
        try:
            parse_format_spec(args.format)
        except UsageError as exc:
            parser.error(str(exc))
    if args.cookies is not None and not args.cookies.is_file():
        parser.error(f"cookies file not found: {args.cookies}")
    container = {"mp4": "mp4", "mkv": "matroska", None: None}[args.container]
    try:
        container_for(str(args.output) if args.output else None, container)
    except UsageError as exc:
        parser.error(str(exc))
    network = NetworkOptions(
        timeout=args.timeout,
        connect_timeout=args.connect_timeout,
        headers=tuple(args.header),
        user_agent=args.user_agent,
        cookies=args.cookies,
        proxy=args.proxy,
        limit_rate=args.limit_rate,
        http2=args.http2,
        verify=not args.no_check_certificate,
        host_headers={h: dict(c.headers) for h, c in hosts.items() if c.headers},
    )
    return Options(
        url=urls[0] if urls else "",
        urls=tuple(urls),
        jobs=args.jobs,
        format=args.format,
        list_formats=args.list_formats,
        simulate=args.simulate,
        base_url=args.base_url,
        limits=ManifestLimits(max_bytes=args.max_manifest_size, max_segments=args.max_segments),
        container=container,
        keep_segments=args.keep_segments,
        live_from_start=args.live_from_start,
        live_duration=args.duration,
        output=args.output,
        concurrency=args.concurrency,
        retries=args.retries,
        timeout=args.timeout,
        mux=not args.no_mux,
        force=args.force or (args.demo and args.output is None),
        json=args.json,
        demo=args.demo,
        headless=args.headless,
        fresh=args.fresh,
        verify=not args.no_check_certificate,
        network=network,
        host_limits={h: c.concurrency for h, c in hosts.items() if c.concurrency},
    )


def use_plain_output(options: Options) -> bool:
    """Plain lines unless a person is watching a capable terminal."""
    return (
        options.headless
        or options.json
        or options.list_formats
        or options.simulate
        or not sys.stderr.isatty()
        or os.environ.get("TERM", "") in ("", "dumb")
    )


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    options = _options(argv)
    if len(options.urls) > 1:
        if not use_plain_output(options):
            from .ui import run_ui_batch

            return run_ui_batch(functools.partial(_interactive_batch, options), options.urls)
        return _run_batch(options)
    if not use_plain_output(options):
        from .ui import run_ui

        return run_ui(functools.partial(_interactive_job, options))
    reporter = Reporter(
        Progress(),
        lines=sys.stderr,
        json_out=sys.stdout if options.json else None,
        retries=options.retries,
    )
    code = trio.run(_plain_job, options, reporter)
    error = reporter.progress.error
    if error and reporter.progress.manifest_url is None:
        print(f"trioseg: error: {error}", file=sys.stderr)
    return code


def _run_batch(options: Options) -> int:
    total = len(options.urls)
    reporters = [
        Reporter(
            Progress(),
            lines=sys.stderr,
            json_out=sys.stdout if options.json else None,
            retries=options.retries,
            prefix=f"[{i}/{total}] ",
            json_extra={"job": i, "url": url},
        )
        for i, url in enumerate(options.urls, 1)
    ]
    code = trio.run(download_batch, options, reporters)
    progresses = [r.progress for r in reporters]
    for line in batch_lines(options.urls, progresses):
        print(line, file=sys.stderr)
    if options.json:
        summaries = [
            {"job": i, "url": url, **p.summary()}
            for i, (url, p) in enumerate(zip(options.urls, progresses, strict=True), 1)
        ]
        outputs = [path for s in summaries for path in s["outputs"]]
        final = {
            "event": "finished",
            "status": batch_status(progresses),
            "outputs": outputs,
            "jobs": summaries,
        }
        print(json.dumps(final, separators=(",", ":")), flush=True)
    return code


def _say(text: str) -> None:
    print(text, file=sys.stderr)


async def _plain_job(options: Options, reporter: Reporter) -> int:
    if options.demo:
        from .demo import run_demo

        return await run_demo(options, functools.partial(download, consumer=reporter), _say)
    return await download(options, reporter)


async def _interactive_batch(
    options: Options,
    consumers: Sequence[EventConsumer],
    controls: Sequence[JobControl],
    say: Callable[[str], None],
) -> int:
    """A batch as the full-screen UI runs it: a consumer and a control per job."""
    del say
    return await download_batch(options, consumers, controls, watch_signals=False)


async def _interactive_job(
    options: Options, consumer: EventConsumer, control: JobControl, say: Callable[[str], None]
) -> int:
    """The job as the full-screen UI runs it: its consumer and control, no signal watcher."""
    job = functools.partial(download, consumer=consumer, control=control, watch_signals=False)
    if options.demo:
        from .demo import run_demo

        return await run_demo(options, job, say)
    return await job(options)


def tune_gc() -> None:
    """Make Python's cycle collector cheap for a download.

    Everything loaded so far (modules, classes, the parsed configuration) lives as long
    as the process: ``gc.freeze`` takes it out of every later collection.  And a
    download allocates many short-lived objects that reference counting frees on its
    own, so collecting after every 700 allocations (the default) mostly finds nothing:
    every 10,000 is plenty.
    """
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(10_000, second, third)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    tune_gc()
    try:
        code = run(argv)
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    sys.exit(code)
