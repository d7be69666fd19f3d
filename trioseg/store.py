"""Where bytes land: segment files, their atomic commit, and ordered assembly.

Layout for an output ``DIR/NAME.mp4``::

    DIR/.NAME.mp4.trioseg/            work directory (removed after success)
        journal                       the plan's fingerprint, then one line per segment
        <stream>/000000.seg           a complete segment (init is index 0 when present)
        <stream>/000001.seg.part      a segment being written: never trusted
        <stream>.mp4                  init + segments, assembled (when muxing)

A segment's bytes go to ``.part`` and are renamed to ``.seg`` only when complete; then
its journal line (index, URL, range, size, CRC-32) is appended.  A segment counts as
complete only when both exist and agree, so a crash at any instant (even ``kill -9``
between the two steps) leaves nothing that looks complete but is not: the worst case
is one segment fetched again.  The rename and the journal append are synchronous, with
no checkpoint between them, so a trio cancellation cannot separate them either.

The journal is append-only JSON lines written with one ``write`` each; a torn last
line (power loss) is cut off when the journal is reopened.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from .errors import StoreError, UsageError
from .plan import ByteRange, Plan

__all__ = [
    "Journal",
    "JournalEntry",
    "SegmentSink",
    "SegmentStore",
    "plan_fingerprint",
    "safe_name",
    "store_error",
]

JOURNAL_VERSION = 1

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, *, fallback: str = "stream") -> str:
    """A file-name component from untrusted text: never a path, never hidden."""
    name = _UNSAFE.sub("_", text).strip("._")[:80]
    return name or fallback


def store_error(exc: OSError, path: Path) -> StoreError:
    reason = exc.strerror or str(exc)
    return StoreError(f"cannot write {path}: {reason}")


def plan_fingerprint(plan: Plan) -> str:
    """What a resumed run must agree on: streams and their segments' paths and ranges.

    Query strings are left out: signed URLs change on every manifest fetch while the
    segments stay the same.
    """
    digest = hashlib.sha256()
    for stream in plan.streams:
        refs = ([stream.init] if stream.init is not None else []) + list(stream.segments)
        digest.update(json.dumps([stream.id, stream.kind, len(refs)]).encode())
        for ref in refs:
            digest.update(urlsplit(ref.url).path.encode())
            digest.update(str(ref.byte_range).encode() if ref.byte_range else b"-")
            digest.update(b"\n")
    return digest.hexdigest()[:32]


@attrs.frozen
class JournalEntry:
    url: str
    byte_range: str | None
    size: int
    crc32: int


@attrs.define
class Journal:
    """Which segments are complete, and how to recognise them."""

    path: Path
    fingerprint: str
    entries: dict[tuple[str, int], JournalEntry] = attrs.Factory(dict)
    _fd: int | None = None

    @classmethod
    def open(cls, path: Path, fingerprint: str) -> Journal:
        """Open (or create) the journal; a different plan's journal is refused."""
        journal = cls(path, fingerprint)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            raise store_error(exc, path) from None
        if data:
            complete = data[: data.rfind(b"\n") + 1]
            lines = complete.splitlines()
            header = _loads(lines[0]) if lines else None
            if header is None or header.get("trioseg_journal") != JOURNAL_VERSION:
                raise StoreError(f"unreadable journal {path}; re-run with --fresh to start over")
            if header.get("fingerprint") != fingerprint:
                raise UsageError(
                    "the manifest changed since the interrupted download (its plan differs); "
                    "re-run with --fresh to start over"
                )
            for line in lines[1:]:
                journal._apply(_loads(line))
            if len(complete) != len(data):
                _truncate(path, len(complete))
        else:
            journal._append({"trioseg_journal": JOURNAL_VERSION, "fingerprint": fingerprint})
        return journal

    def _apply(self, rec: dict[str, Any] | None) -> None:
        if rec is None or "s" not in rec or "i" not in rec:
            return
        key = (str(rec["s"]), int(rec["i"]))
        if rec.get("drop"):
            self.entries.pop(key, None)
        else:
            self.entries[key] = JournalEntry(rec["u"], rec.get("r"), int(rec["n"]), int(rec["c"]))

    def _append(self, rec: dict[str, Any]) -> None:
        line = json.dumps(rec, separators=(",", ":")).encode() + b"\n"
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(self._fd, line)
        except OSError as exc:
            raise store_error(exc, self.path) from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def record(self, stream: str, index: int, entry: JournalEntry) -> None:
        rec = {"s": stream, "i": index, "u": entry.url, "r": entry.byte_range}
        self._append({**rec, "n": entry.size, "c": entry.crc32})
        self.entries[stream, index] = entry

    def drop(self, stream: str, index: int) -> None:
        self._append({"s": stream, "i": index, "drop": True})
        self.entries.pop((stream, index), None)


def _loads(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _truncate(path: Path, size: int) -> None:
    try:
        os.truncate(path, size)
    except OSError as exc:
        raise store_error(exc, path) from None


#: a partial segment at least this large is kept for a ranged resume when it fails
RESUME_MIN = 64 * 1024


class SegmentSink:
    """A segment's ``.part`` file: counts and checksums what is written, and knows
    whether what it holds can be resumed with a range request."""

    def __init__(
        self,
        file: Any,
        path: Path,
        meta: Path,
        url: str,
        offset: int = 0,
        crc32: int = 0,
        *,
        notes: set[Path] | None = None,
    ) -> None:
        self._notes = notes
        self._file = file
        self.path = path
        self._meta = meta
        self._url = url
        self.size = offset
        self.crc32 = crc32
        self._offset = offset
        self._validator: str | None = None
        self.resumable = False

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def validator(self) -> str | None:
        return self._validator

    def begin(self, validator: str | None, resumable: bool, length: int | None) -> None:
        """The response's headers arrived: note a large resumable body beside the
        ``.part`` right away, so that even ``kill -9`` leaves a resumable prefix."""
        self._validator = validator
        self.resumable = resumable and self._offset + (length or 0) >= RESUME_MIN
        if self.resumable:
            note = {"url": _plain(self._url), "validator": validator}
            try:
                self._meta.write_text(json.dumps(note))
            except OSError as exc:
                raise store_error(exc, self._meta) from None
            if self._notes is not None:
                self._notes.add(self._meta)

    def reset(self) -> None:
        try:
            self._file.seek(0)
            self._file.truncate()
        except OSError as exc:
            raise store_error(exc, self.path) from None
        self.size = self.crc32 = self._offset = 0

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as exc:
            raise store_error(exc, self.path) from None
        self.size += len(data)
        self.crc32 = zlib.crc32(data, self.crc32)


def _plain(url: str) -> str:
    return urlsplit(url)._replace(query="").geturl()


def _partial(part: Path, meta: Path, url: str) -> tuple[int, int, str | None] | None:
    """(size, crc32, validator) of a kept partial segment of ``url``, or None.

    The ``.part`` was written sequentially, so whatever reached the disk is a prefix
    of the body, whatever interrupted it.
    """
    try:
        info = json.loads(meta.read_bytes())
        if info.get("url") != _plain(url):
            return None
        size = part.stat().st_size
        if not size:
            return None
        crc = 0
        with open(part, "rb") as f:
            while chunk := f.read(1 << 20):
                crc = zlib.crc32(chunk, crc)
        validator = info.get("validator")
        return size, crc, validator if isinstance(validator, str) else None
    except (OSError, ValueError, AttributeError):
        return None


@attrs.define
class SegmentStore:
    workdir: Path
    journal: Journal | None = None
    #: segments committed by this run: their checksum was taken as they were written
    fresh: set[tuple[str, int]] = attrs.Factory(set)
    #: ``.part.json`` notes that may exist (found at prepare, or written by this run):
    #: only these segments are looked at for a ranged resume
    partials: set[Path] = attrs.Factory(set)

    @classmethod
    def for_output(cls, output: Path) -> SegmentStore:
        return cls(output.parent / f".{output.name}.trioseg")

    def stream_dir(self, stream: str) -> Path:
        return self.workdir / safe_name(stream)

    def segment_path(self, stream: str, index: int) -> Path:
        return self.stream_dir(stream) / f"{index:06d}.seg"

    def prepare(self, plan: Plan, *, fresh: bool = False) -> None:
        """Create the work directory and open the journal (``fresh``: discard both)."""
        if fresh:
            self.remove()
        try:
            for stream in plan.streams:
                self.stream_dir(stream.id).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise store_error(exc, self.workdir) from None
        self.journal = Journal.open(self.workdir / "journal", plan_fingerprint(plan))
        self.partials = set(self.workdir.glob("*/*.part.json"))

    def prepare_live(self, streams: list[str]) -> None:
        """A fresh work directory for a live recording (nothing to resume: the
        presentation moves on), with a journal for this recording only."""
        self.remove()
        try:
            for stream in streams:
                self.stream_dir(stream).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise store_error(exc, self.workdir) from None
        self.journal = Journal.open(self.workdir / "journal", "live")

    def _journal(self) -> Journal:
        if self.journal is None:
            raise RuntimeError("SegmentStore.prepare() was not called")
        return self.journal

    def completed(self, stream: str, index: int) -> JournalEntry | None:
        """The journal entry of a segment committed by this or an earlier run, else None."""
        entry = self._journal().entries.get((stream, index))
        if entry is None:
            return None
        try:
            size = self.segment_path(stream, index).stat().st_size
        except FileNotFoundError:
            return None
        return entry if size == entry.size else None

    def completed_size(self, stream: str, index: int) -> int | None:
        entry = self.completed(stream, index)
        return None if entry is None else entry.size

    @contextmanager
    def open_segment(
        self, stream: str, index: int, url: str, byte_range: ByteRange | None
    ) -> Iterator[SegmentSink]:
        """Open a segment's ``.part`` file; commit it on a clean exit.

        On failure the ``.part`` is deleted, unless it belongs to a body of at least
        :data:`RESUME_MIN` bytes whose origin accepts ranges: then it is kept with its
        ``.part.json`` note, and the next attempt (in this run or a later one) asks only
        for the rest.  Both outcomes are synchronous, so they happen even under
        cancellation.
        """
        final = self.segment_path(stream, index)
        part = final.with_name(final.name + ".part")
        meta = final.with_name(final.name + ".part.json")
        kept = _partial(part, meta, url) if meta in self.partials else None
        try:
            f = open(part, "ab" if kept else "wb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise store_error(exc, part) from None
        sink = SegmentSink(f, part, meta, url, *(kept[:2] if kept else (0, 0)), notes=self.partials)
        if kept:
            sink._validator = kept[2]
            sink.resumable = True
        try:
            yield sink
        except BaseException:
            f.close()
            if not (sink.resumable and sink.size):
                part.unlink(missing_ok=True)
                meta.unlink(missing_ok=True)
            raise
        try:
            f.close()
            os.replace(part, final)
            meta.unlink(missing_ok=True)
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise store_error(exc, final) from None
        entry = JournalEntry(url, str(byte_range) if byte_range else None, sink.size, sink.crc32)
        self._journal().record(stream, index, entry)
        self.fresh.add((stream, index))

    def assemble(
        self, stream: str, count: int, dest: Path, *, indices: Sequence[int] | None = None
    ) -> int:
        """Concatenate segments ``0..count-1`` of ``stream`` (or just ``indices``, in that
        order) into ``dest`` atomically, checking each against its journal checksum.

        Blocking (run it in a thread); memory stays bounded by the copy buffer.
        """
        part = dest.with_name(dest.name + ".part")
        journal = self._journal()
        total = 0
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(part, "wb") as out:
                for index in range(count) if indices is None else indices:
                    path = self.segment_path(stream, index)
                    entry = journal.entries.get((stream, index))
                    if (stream, index) in self.fresh and entry is not None:
                        # written by this run: copy in the kernel, no need to re-check
                        _copy(path, out)
                        continue
                    crc = 0
                    with open(path, "rb") as src:
                        while chunk := src.read(1 << 20):
                            crc = zlib.crc32(chunk, crc)
                            out.write(chunk)
                    if entry is None or entry.crc32 != crc:
                        journal.drop(stream, index)
                        path.unlink(missing_ok=True)
                        raise StoreError(
                            f"segment {index} of stream {stream} changed on disk since it was "
                            "downloaded; re-run the same command to fetch it again"
                        )
                total = out.tell()
            os.replace(part, dest)
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise store_error(exc, dest) from None
        except StoreError:
            part.unlink(missing_ok=True)
            raise
        return total

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()


def _copy(path: Path, out: Any) -> None:
    """Append ``path`` to the open file ``out`` without passing through Python."""
    out.flush()
    with open(path, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        offset = 0
        try:
            while offset < size:
                sent = os.sendfile(out.fileno(), src.fileno(), offset, size - offset)
                if sent == 0:
                    break
                offset += sent
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOSYS) or offset:
                raise
        if offset < size:
            src.seek(offset)
            shutil.copyfileobj(src, out, 1 << 20)
