"""Where bytes land: one file per stream, each segment at its place, and a journal.

Layout for an output ``DIR/NAME.mp4``::

    DIR/.NAME.mp4.trioseg/            work directory (removed after success)
        journal                       the plan's fingerprint, then one line per event
        <stream>.data                 the stream's segments, each at its final offset
        <stream>/000007.seg           a complete segment that could not be placed yet
        <stream>/000008.seg.part      a segment being written to its own file
        <stream>/000008.seg.part.json note that makes that ``.part`` resumable

Placement: segment *i* starts where segment *i-1* ends, so once *i-1*'s length is known
(its response's Content-Length, or its size when complete) *i* is written straight to
its final offset in the stream's data file, as its bytes arrive.  Segments are requested
in order, so this is nearly always so; a small body whose place is not known yet waits in
memory until it is complete, a large one goes to its own ``.part`` file, and either is
moved to its place as soon as that is known.  A complete run thus writes each byte once,
creates no file per segment, and its data file *is* the stream's file.

The journal is the only judge of completeness.  A segment's line (index, URL, range,
size, CRC-32 and its offset in the data file, or none for a ``.seg``) is appended only
after its bytes are in place; bytes in the data file that no line vouches for, and
``.part`` files, are never trusted.  A large body being placed also gets progress lines
(offset, expected length, bytes written so far, their CRC-32) every few MiB.  On
reopening, every journaled segment and every progress line is checked against its
checksum; what fails is forgotten (fetched again), and what a progress line vouches for
is continued with a ranged request.  So a crash at any instant, even ``kill -9``, leaves
nothing that looks complete but is not, and costs at most a few MiB per segment that
was in flight.

The journal is append-only JSON lines written with one ``write`` each; a torn last
line (power loss) is cut off when the journal is reopened.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import zlib
from bisect import bisect_right, insort
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from .errors import StoreError, UsageError
from .naming import safe_name
from .plan import ByteRange, Plan

__all__ = [
    "Journal",
    "JournalEntry",
    "PartialEntry",
    "SegmentSink",
    "SegmentStore",
    "StreamData",
    "plan_fingerprint",
    "safe_name",
    "store_error",
]

JOURNAL_VERSION = 1


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
    """A complete segment."""

    url: str
    byte_range: str | None
    size: int
    crc32: int
    #: where it is in the stream's data file; None: in its own ``.seg`` file
    offset: int | None = None


@attrs.frozen
class PartialEntry:
    """A segment being written at its place in the data file: how far it got."""

    offset: int
    #: the length it will have, when the response said
    length: int | None
    written: int
    crc32: int
    url: str
    validator: str | None


@attrs.define
class Journal:
    """Which segments are complete, and how to recognise them."""

    path: Path
    fingerprint: str
    entries: dict[tuple[str, int], JournalEntry] = attrs.Factory(dict)
    partials: dict[tuple[str, int], PartialEntry] = attrs.Factory(dict)
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
        try:
            if rec.get("drop"):
                self.entries.pop(key, None)
                self.partials.pop(key, None)
            elif "w" in rec:
                length = rec.get("e")
                self.partials[key] = PartialEntry(
                    int(rec["o"]),
                    None if length is None else int(length),
                    int(rec["w"]),
                    int(rec["c"]),
                    str(rec["u"]),
                    rec.get("v") if isinstance(rec.get("v"), str) else None,
                )
            else:
                offset = rec.get("o")
                self.entries[key] = JournalEntry(
                    str(rec["u"]),
                    rec.get("r"),
                    int(rec["n"]),
                    int(rec["c"]),
                    None if offset is None else int(offset),
                )
                self.partials.pop(key, None)
        except (KeyError, TypeError, ValueError):
            return

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
        rec: dict[str, Any] = {"s": stream, "i": index, "u": entry.url, "r": entry.byte_range}
        rec.update(n=entry.size, c=entry.crc32)
        if entry.offset is not None:
            rec["o"] = entry.offset
        self._append(rec)
        self.entries[stream, index] = entry
        self.partials.pop((stream, index), None)

    def progress(self, stream: str, index: int, partial: PartialEntry) -> None:
        rec: dict[str, Any] = {"s": stream, "i": index, "o": partial.offset, "e": partial.length}
        rec.update(w=partial.written, c=partial.crc32, u=partial.url, v=partial.validator)
        self._append(rec)
        self.partials[stream, index] = partial

    def drop(self, stream: str, index: int) -> None:
        self._append({"s": stream, "i": index, "drop": True})
        self.entries.pop((stream, index), None)
        self.partials.pop((stream, index), None)


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


#: a body at least this large is resumable with a range request when it fails
RESUME_MIN = 64 * 1024

#: a body being placed gets a progress line in the journal after every this many bytes
PROGRESS_EVERY = 256 << 10

#: how far back a segment's place is looked for (see StreamData.offset_for)
LOOK_BACK = 256

_NONE, _FILE, _MEMORY, _PLACED = range(4)


@attrs.define(eq=False)
class StreamData:
    """A stream's data file and where each segment's bytes go in it."""

    path: Path
    fd: int
    #: index → (offset, length): the place of each segment placed or being placed
    #: (length None while a body of unknown length is being written there)
    regions: dict[int, tuple[int, int | None]] = attrs.Factory(dict)
    #: the indices in ``regions``, sorted
    placed: list[int] = attrs.Factory(list)
    #: the length of each segment as far as known (announced by its response, or its
    #: size when complete), placed or not
    lengths: dict[int, int] = attrs.Factory(dict)

    def offset_for(self, index: int) -> int | None:
        """Where segment ``index`` starts: the end of the nearest placed predecessor plus
        the lengths of those in between, if all are known.  Looks back at most
        :data:`LOOK_BACK` segments (a long run of unplaced ones means something before
        them failed: their place is not worth the search)."""
        extra = 0
        for before in range(index - 1, max(-1, index - 1 - LOOK_BACK), -1):
            region = self.regions.get(before)
            if region is not None:
                return None if region[1] is None else region[0] + region[1] + extra
            length = self.lengths.get(before)
            if length is None:
                return None
            extra += length
        return extra if index <= LOOK_BACK else None

    def fits(self, index: int, offset: int, length: int | None) -> bool:
        """Whether ``length`` bytes at ``offset`` leave the next placed segment intact
        (and, when that is ``index + 1``, end exactly where it starts)."""
        at = bisect_right(self.placed, index)
        if at == len(self.placed):
            return True
        after = self.placed[at]
        start = self.regions[after][0]
        if length is None:
            return False
        return offset + length == start if after == index + 1 else offset + length <= start

    def place(self, index: int, offset: int, length: int | None) -> None:
        if index not in self.regions:
            insort(self.placed, index)
        self.regions[index] = (offset, length)
        if length is not None:
            self.lengths[index] = length

    def unplace(self, index: int) -> None:
        if self.regions.pop(index, None) is not None:
            self.placed.remove(index)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class SegmentSink:
    """Receives one attempt at a segment's body.  Where it goes is chosen when the
    response says how long the body is (:meth:`begin`): to its place in the stream's data
    file when that place is known, else to memory (a small body) or to its own ``.part``
    file.  It counts and checksums what is written and knows whether a ranged request
    can continue it."""

    def __init__(
        self,
        store: SegmentStore,
        stream: str,
        index: int,
        url: str,
        byte_range: ByteRange | None,
    ) -> None:
        self._store = store
        self._stream = stream
        self._index = index
        self._url = url
        self._range = byte_range
        final = store.segment_path(stream, index)
        self.path = final.with_name(final.name + ".part")
        self._meta = final.with_name(final.name + ".part.json")
        self._mode = _NONE
        self._file: Any = None
        self._chunks: list[bytes] = []
        self._data = store.data.get(stream)
        self._at = 0
        self._length: int | None = None
        self._noted = 0
        self._validator: str | None = None
        self.resumable = False
        self._offset = self.size = self.crc32 = 0
        placed = store.kept.pop((stream, index), None)
        if placed is not None and placed.url == _plain(url) and self._data is not None:
            # an earlier attempt wrote a prefix at this segment's place: continue it
            self._mode, self._at, self._length = _PLACED, placed.offset, placed.length
            self._offset = self.size = placed.written
            self.crc32, self._validator, self.resumable = placed.crc32, placed.validator, True
            return
        kept = _partial(self.path, self._meta, url) if self._meta in store.partials else None
        if kept is not None:
            # an earlier attempt left a prefix of this body in its own file: continue it
            self._open_part("ab")
            self._offset = self.size = kept[0]
            self.crc32 = kept[1]
            self._validator = kept[2]
            self.resumable = True

    @property
    def offset(self) -> int:
        """Bytes already there from an interrupted transfer (the request asks for the rest)."""
        return self._offset

    @property
    def validator(self) -> str | None:
        return self._validator

    def _open_part(self, mode: str) -> None:
        try:
            self._file = open(self.path, mode)  # noqa: SIM115 - closed by commit/abandon
        except OSError as exc:
            raise store_error(exc, self.path) from None
        self._mode = _FILE

    def _choose(self, total: int | None) -> None:
        data = self._data
        index = self._index
        if data is not None:
            if total is not None:
                # announced: the segments after it can be placed before it is
                data.lengths[index] = total
            region = data.regions.get(index)
            offset = data.offset_for(index) if region is None else region[0]
            if offset is not None and data.fits(index, offset, total):
                data.place(index, offset, total)
                self._mode, self._at, self._length = _PLACED, offset, total
                self._store.settle(self._stream, index)
                return
        if total is not None and total < RESUME_MIN:
            self._mode = _MEMORY
        else:
            self._open_part("wb")

    def begin(self, validator: str | None, resumable: bool, length: int | None) -> None:
        """The response's head arrived: ``length`` bytes will follow (None: unknown).
        Choose where they go, and note a large resumable body on disk right away, so
        that even ``kill -9`` leaves a prefix the next run can continue."""
        self._validator = validator
        total = None if length is None else self._offset + length
        self.resumable = resumable and (total or 0) >= RESUME_MIN
        if self._mode == _PLACED and total is not None and total != self._length:
            # not the length this place was kept for: what is there moves to a file
            self._evict()
        if self._mode == _NONE:
            self._choose(total)
        if not self.resumable:
            return
        if self._mode == _PLACED:
            self._progress()
        elif self._mode == _FILE:
            note = {"url": _plain(self._url), "validator": validator}
            try:
                self._meta.write_text(json.dumps(note))
            except OSError as exc:
                raise store_error(exc, self._meta) from None
            self._store.partials.add(self._meta)

    def _evict(self) -> None:
        """Leave this segment's place (its body turned out longer or shorter than the
        place kept for it): continue in its own file, with what was written so far."""
        data = self._data
        assert data is not None
        data.unplace(self._index)
        data.lengths.pop(self._index, None)
        if not self.size:
            self._mode = _NONE
            return
        self._open_part("wb")
        try:
            _copy_range(data.fd, self._at, self.size, self._file)
        except OSError as exc:
            raise store_error(exc, self.path) from None

    def _progress(self) -> None:
        self._noted = self.size
        partial = PartialEntry(
            self._at, self._length, self.size, self.crc32, _plain(self._url), self._validator
        )
        self._store.journal_of().progress(self._stream, self._index, partial)

    def reset(self) -> None:
        """The origin sends the whole body after all: forget what was there."""
        try:
            if self._mode == _FILE:
                self._file.seek(0)
                self._file.truncate()
        except OSError as exc:
            raise store_error(exc, self.path) from None
        self._chunks = []
        self.size = self.crc32 = self._offset = self._noted = 0

    def write(self, data: bytes) -> None:
        mode = self._mode
        if mode == _PLACED and self._length is not None and self.size + len(data) > self._length:
            self._evict()  # never past the place kept for it
            mode = self._mode
        try:
            if mode == _PLACED:
                _pwrite(self._data.fd, data, self._at + self.size)  # type: ignore[union-attr]
            elif mode == _MEMORY:
                self._chunks.append(data)
            elif mode == _FILE:
                self._file.write(data)
            else:
                self._choose(None)
                self.write(data)
                return
        except OSError as exc:
            raise store_error(exc, self._where()) from None
        self.size += len(data)
        self.crc32 = zlib.crc32(data, self.crc32)
        if mode == _PLACED and self.resumable and self.size - self._noted >= PROGRESS_EVERY:
            self._progress()

    def _where(self) -> Path:
        return self._data.path if self._mode == _PLACED and self._data else self.path

    def _entry(self, offset: int | None) -> JournalEntry:
        byte_range = str(self._range) if self._range else None
        return JournalEntry(self._url, byte_range, self.size, self.crc32, offset)

    def commit(self) -> None:
        """The body is complete: put it in place (or in its ``.seg``), then journal it."""
        store = self._store
        stream, index, data = self._stream, self._index, self._data
        if self._mode == _PLACED and data is not None and self.size != self._length:
            if data.fits(index, self._at, self.size):
                data.place(index, self._at, self.size)
            else:
                # shorter than announced and something is placed after it: give it its
                # own file (rare: the origin changed the body between attempts)
                try:
                    self._chunks = [os.pread(data.fd, self.size, self._at)]
                except OSError as exc:
                    raise store_error(exc, data.path) from None
                data.unplace(index)
                self._mode = _MEMORY
        if self._mode == _NONE:
            self._choose(0)
        if self._mode == _PLACED:
            store.journal_of().record(stream, index, self._entry(self._at))
            store.settle(stream, index)
            return
        if self._mode == _FILE:
            try:
                self._file.close()
            except OSError as exc:
                raise store_error(exc, self.path) from None
        offset = None if data is None else data.offset_for(index)
        if data is not None and offset is not None and data.fits(index, offset, self.size):
            # its place became known while it was received: write it there
            try:
                if self._mode == _MEMORY:
                    _pwritev(data.fd, self._chunks, offset)
                else:
                    _copy_file(self.path, data.fd, offset, self.size)
            except OSError as exc:
                raise store_error(exc, data.path) from None
            data.place(index, offset, self.size)
            store.journal_of().record(stream, index, self._entry(offset))
            if self._mode == _FILE:
                self.path.unlink(missing_ok=True)
                self._meta.unlink(missing_ok=True)
            store.settle(stream, index)
            return
        final = store.segment_path(stream, index)
        try:
            if self._mode == _MEMORY:
                with open(self.path, "wb") as out:
                    for chunk in self._chunks:
                        out.write(chunk)
            os.replace(self.path, final)
            self._meta.unlink(missing_ok=True)
        except OSError as exc:
            self.path.unlink(missing_ok=True)
            raise store_error(exc, final) from None
        store.journal_of().record(stream, index, self._entry(None))

    def abandon(self) -> None:
        """The transfer failed or was cancelled: keep a resumable prefix (the next
        attempt asks only for the rest), drop the rest.  Synchronous, so it happens
        under cancellation too."""
        keep = self.resumable and self.size > 0
        mode, self._mode = self._mode, _NONE
        if mode == _FILE:
            self._file.close()
            if not keep:
                self.path.unlink(missing_ok=True)
                self._meta.unlink(missing_ok=True)
        elif mode == _PLACED and keep:
            # the place stays reserved; the prefix written there is continued later
            partial = PartialEntry(
                self._at, self._length, self.size, self.crc32, _plain(self._url), self._validator
            )
            self._store.kept[self._stream, self._index] = partial
            with suppress(OSError, StoreError):
                self._store.journal_of().progress(self._stream, self._index, partial)


def _pwrite(fd: int, data: bytes | memoryview, offset: int) -> None:
    written = os.pwrite(fd, data, offset)
    while written < len(data):
        data = memoryview(data)[written:]
        offset += written
        written = os.pwrite(fd, data, offset)


def _pwritev(fd: int, chunks: list[bytes], offset: int) -> None:
    """Write ``chunks`` at ``offset`` with as few system calls as possible."""
    for start in range(0, len(chunks), 512):
        batch = chunks[start : start + 512]
        total = sum(len(c) for c in batch)
        written = os.pwritev(fd, batch, offset)
        if written < total:
            _pwrite(fd, b"".join(batch)[written:], offset + written)
        offset += total


def _copy_file(path: Path, fd: int, offset: int, size: int) -> None:
    """Copy the file ``path`` (``size`` bytes) to ``offset`` of the open file ``fd``."""
    with open(path, "rb") as src:
        done = 0
        while done < size:
            chunk = src.read(min(1 << 20, size - done))
            if not chunk:
                raise OSError(errno.EIO, f"{path} is shorter than expected")
            _pwrite(fd, chunk, offset + done)
            done += len(chunk)


def _copy_range(src: int, offset: int, size: int, out: Any) -> None:
    """Copy ``size`` bytes at ``offset`` of the file ``src`` to the end of ``out``."""
    out.flush()
    dst = out.fileno()
    end = offset + size
    try:
        while offset < end:
            sent = os.sendfile(dst, src, offset, end - offset)
            if sent == 0:
                break
            offset += sent
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS):
            raise
    while offset < end:
        chunk = os.pread(src, min(1 << 20, end - offset), offset)
        if not chunk:
            raise OSError(errno.EIO, "file shorter than expected")
        out.write(chunk)
        offset += len(chunk)


def _crc_range(fd: int, offset: int, size: int) -> int | None:
    """The CRC-32 of ``size`` bytes at ``offset``, or None if the file is shorter."""
    crc = 0
    end = offset + size
    while offset < end:
        chunk = os.pread(fd, min(1 << 20, end - offset), offset)
        if not chunk:
            return None
        crc = zlib.crc32(chunk, crc)
        offset += len(chunk)
    return crc


def _file_crc(path: Path) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


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
        validator = info.get("validator")
        return size, _file_crc(part), validator if isinstance(validator, str) else None
    except (OSError, ValueError, AttributeError):
        return None


@attrs.define
class SegmentStore:
    workdir: Path
    journal: Journal | None = None
    #: ``.part.json`` notes that may exist (found at prepare, or written by this run):
    #: only these segments are looked at for a ranged resume
    partials: set[Path] = attrs.Factory(set)
    #: prefixes written at their place by failed attempts, to be continued
    kept: dict[tuple[str, int], PartialEntry] = attrs.Factory(dict)
    #: each stream's data file (none when every segment keeps a file of its own)
    data: dict[str, StreamData] = attrs.Factory(dict)
    #: the work folder's lock, held from prepare to close
    _lock_fd: int | None = None

    @classmethod
    def for_output(cls, output: Path) -> SegmentStore:
        return cls(output.parent / f".{output.name}.trioseg")

    def stream_dir(self, stream: str) -> Path:
        return self.workdir / safe_name(stream)

    def segment_path(self, stream: str, index: int) -> Path:
        return self.stream_dir(stream) / f"{index:06d}.seg"

    def data_path(self, stream: str) -> Path:
        return self.workdir / f"{safe_name(stream)}.data"

    def prepare(self, plan: Plan, *, fresh: bool = False, place: bool = True) -> None:
        """Create the work directory and open the journal (``fresh``: discard both).

        With ``place`` (the default) segments are written at their place in one data
        file per stream; without it every segment keeps a file of its own.  Whatever an
        earlier run left is checked against its journaled checksum now, so from here on
        everything journaled is trusted.
        """
        self._lock()
        try:
            if fresh:
                self._clear()
            try:
                for stream in plan.streams:
                    self.stream_dir(stream.id).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise store_error(exc, self.workdir) from None
            self.journal = Journal.open(self.workdir / "journal", plan_fingerprint(plan))
            self.partials = set(self.workdir.glob("*/*.part.json"))
            for stream in plan.streams:
                self._check_files(stream.id)
                if place:
                    self._open_data(stream.id)
        except BaseException:
            self.close()
            raise

    def prepare_live(self, streams: list[str]) -> None:
        """A fresh work directory for a live recording (nothing to resume: the
        presentation moves on), with a journal for this recording only; segments keep
        files of their own (the recorder appends them to its growing outputs)."""
        self._lock()
        self._clear()
        try:
            for stream in streams:
                self.stream_dir(stream).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise store_error(exc, self.workdir) from None
        self.journal = Journal.open(self.workdir / "journal", "live")

    def _lock(self) -> None:
        """One run per work folder: a second run writing to the same output would write
        the same files.  The lock goes with the process (even ``kill -9`` releases it)."""
        if self._lock_fd is not None:
            return
        path = self.workdir / "lock"
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise store_error(exc, path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise UsageError(
                f"another trioseg is writing to the same output (its work folder "
                f"{self.workdir} is in use); wait for it to finish or stop it"
            ) from None
        self._lock_fd = fd

    def _clear(self) -> None:
        """Empty the work folder (keeping its lock)."""
        self.close(unlock=False)
        for entry in self.workdir.iterdir():
            if entry.name == "lock":
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        self.journal = None

    def journal_of(self) -> Journal:
        if self.journal is None:
            raise RuntimeError("SegmentStore.prepare() was not called")
        return self.journal

    def _check_files(self, stream: str) -> None:
        """Forget journaled ``.seg`` files that are missing or changed on disk."""
        journal = self.journal_of()
        for (name, index), entry in list(journal.entries.items()):
            if name != stream or entry.offset is not None:
                continue
            path = self.segment_path(stream, index)
            try:
                intact = path.stat().st_size == entry.size and _file_crc(path) == entry.crc32
            except OSError:
                intact = False
            if not intact:
                journal.drop(stream, index)
                path.unlink(missing_ok=True)

    def _open_data(self, stream: str) -> None:
        """Open a stream's data file; keep what the journal vouches for and the checksums
        confirm, and the prefixes that progress lines vouch for."""
        journal = self.journal_of()
        path = self.data_path(stream)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise store_error(exc, path) from None
        data = StreamData(path, fd)
        self.data[stream] = data
        for (name, index), entry in journal.entries.items():
            if name == stream and entry.offset is None:
                data.lengths[index] = entry.size
        try:
            for (name, index), entry in sorted(journal.entries.items()):
                if name != stream or entry.offset is None:
                    continue
                if _crc_range(fd, entry.offset, entry.size) == entry.crc32 and data.fits(
                    index, entry.offset, entry.size
                ):
                    data.place(index, entry.offset, entry.size)
                else:
                    journal.drop(stream, index)
            for (name, index), partial in sorted(journal.partials.items()):
                if name != stream or (name, index) in journal.entries or index in data.regions:
                    continue
                if not data.fits(index, partial.offset, partial.length):
                    continue
                data.place(index, partial.offset, partial.length)
                if (
                    partial.written
                    and _crc_range(fd, partial.offset, partial.written) == partial.crc32
                ):
                    self.kept[stream, index] = partial
        except OSError as exc:
            raise store_error(exc, path) from None
        self.settle(stream, -1)

    def completed(self, stream: str, index: int) -> JournalEntry | None:
        """The journal entry of a segment committed by this or an earlier run, else None."""
        entry = self.journal_of().entries.get((stream, index))
        if entry is None:
            return None
        if entry.offset is not None:
            return entry if stream in self.data else None
        try:
            size = self.segment_path(stream, index).stat().st_size
        except FileNotFoundError:
            return None
        return entry if size == entry.size else None

    def completed_size(self, stream: str, index: int) -> int | None:
        entry = self.completed(stream, index)
        return None if entry is None else entry.size

    def read_segment(self, stream: str, index: int) -> bytes | None:
        """A complete segment's bytes (for checks and tools), or None."""
        entry = self.completed(stream, index)
        if entry is None:
            return None
        if entry.offset is not None:
            return os.pread(self.data[stream].fd, entry.size, entry.offset)
        return self.segment_path(stream, index).read_bytes()

    @contextmanager
    def open_segment(
        self, stream: str, index: int, url: str, byte_range: ByteRange | None
    ) -> Iterator[SegmentSink]:
        """A sink for one attempt at a segment: committed on a clean exit, abandoned on
        any exception (cancellation included); see :class:`SegmentSink`."""
        sink = SegmentSink(self, stream, index, url, byte_range)
        try:
            yield sink
        except BaseException:
            sink.abandon()
            raise
        sink.commit()

    def settle(self, stream: str, index: int) -> None:
        """Segment ``index``'s place and length are known: move the complete segments
        after it that wait in ``.seg`` files to their places."""
        data = self.data.get(stream)
        if data is None:
            return
        journal = self.journal_of()
        while True:
            index += 1
            entry = journal.entries.get((stream, index))
            if entry is None or entry.offset is not None or index in data.regions:
                if index in data.lengths:
                    continue  # placed, or on its way with a known length
                return
            offset = data.offset_for(index)
            if offset is None or not data.fits(index, offset, entry.size):
                return
            path = self.segment_path(stream, index)
            try:
                _copy_file(path, data.fd, offset, entry.size)
            except OSError as exc:
                raise store_error(exc, data.path) from None
            data.place(index, offset, entry.size)
            journal.record(stream, index, attrs.evolve(entry, offset=offset))
            path.unlink(missing_ok=True)

    # -- results --------------------------------------------------------------------

    def data_file(self, stream: str, indices: Sequence[int]) -> Path | None:
        """The stream's data file, if it holds exactly ``indices`` (in that order) and
        nothing else."""
        data = self.data.get(stream)
        if data is None or list(indices) != list(range(len(indices))):
            return None
        journal = self.journal_of()
        end = 0
        for index in indices:
            entry = journal.entries.get((stream, index))
            if entry is None or entry.offset != end:
                return None
            end += entry.size
        if any(index >= len(indices) for index in data.regions):
            return None  # the file holds more (a later part)
        try:
            if os.fstat(data.fd).st_size != end:
                os.ftruncate(data.fd, end)
        except OSError as exc:
            raise store_error(exc, data.path) from None
        return data.path

    def assemble(
        self,
        stream: str,
        count: int,
        dest: Path,
        *,
        indices: Sequence[int] | None = None,
        move: bool = False,
    ) -> int:
        """Write segments ``0..count-1`` of ``stream`` (or just ``indices``, in that order)
        to ``dest`` atomically; returns its size.

        ``move``: when the data file holds exactly those segments it becomes ``dest``
        (the stream's work is over).  Blocking (run it in a thread); memory stays
        bounded by the copy buffer.
        """
        order = list(range(count)) if indices is None else list(indices)
        data = self.data.get(stream)
        whole = self.data_file(stream, order)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if whole is not None and move and data is not None:
                size = os.fstat(data.fd).st_size
                data.close()
                os.replace(whole, dest)
                del self.data[stream]
                return size
        except OSError as exc:
            raise store_error(exc, dest) from None
        part = dest.with_name(dest.name + ".part")
        try:
            with open(part, "wb") as out:
                for index in order:
                    entry = self.completed(stream, index)
                    if entry is None:
                        raise StoreError(
                            f"segment {index} of stream {stream} is missing from the work "
                            "folder; re-run the same command to fetch it again"
                        )
                    if entry.offset is not None and data is not None:
                        _copy_range(data.fd, entry.offset, entry.size, out)
                    else:
                        with open(self.segment_path(stream, index), "rb") as src:
                            _copy_range(src.fileno(), 0, entry.size, out)
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

    def close(self, *, unlock: bool = True) -> None:
        for data in self.data.values():
            data.close()
        self.data.clear()
        if self.journal is not None:
            self.journal.close()
        if unlock and self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
