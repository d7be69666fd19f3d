"""Where bytes land: segment files, their atomic commit, and ordered assembly.

Layout for an output ``DIR/NAME.mp4``::

    DIR/.NAME.mp4.trioseg/            work directory (removed after success)
        <stream>/000000.seg           a complete segment (init is index 0 when present)
        <stream>/000001.seg.part      a segment being written: never trusted
        <stream>.mp4                  init + segments, assembled (when muxing)

A segment's bytes go to ``.part`` and are renamed to ``.seg`` only when complete, so a
crash at any instant leaves no file that looks complete but is not.  Renames and
unlinks here are synchronous: a trio cancellation cannot interrupt them halfway.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import attrs

from .errors import StoreError

__all__ = ["SegmentStore", "safe_name", "store_error"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, *, fallback: str = "stream") -> str:
    """A file-name component from untrusted text: never a path, never hidden."""
    name = _UNSAFE.sub("_", text).strip("._")[:80]
    return name or fallback


def store_error(exc: OSError, path: Path) -> StoreError:
    reason = exc.strerror or str(exc)
    return StoreError(f"cannot write {path}: {reason}")


@attrs.frozen
class SegmentStore:
    workdir: Path

    @classmethod
    def for_output(cls, output: Path) -> SegmentStore:
        return cls(output.parent / f".{output.name}.trioseg")

    def stream_dir(self, stream: str) -> Path:
        return self.workdir / safe_name(stream)

    def segment_path(self, stream: str, index: int) -> Path:
        return self.stream_dir(stream) / f"{index:06d}.seg"

    def prepare(self, streams: list[str]) -> None:
        try:
            for stream in streams:
                self.stream_dir(stream).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise store_error(exc, self.workdir) from None

    def completed_size(self, stream: str, index: int) -> int | None:
        """Size of a segment already committed by this or an earlier run, else None."""
        try:
            return self.segment_path(stream, index).stat().st_size
        except FileNotFoundError:
            return None

    @contextmanager
    def open_segment(self, stream: str, index: int) -> Iterator[BinaryIO]:
        """Open a segment's ``.part`` file; commit it on a clean exit, delete it otherwise.

        Both outcomes are synchronous, so they happen even under cancellation.
        """
        final = self.segment_path(stream, index)
        part = final.with_name(final.name + ".part")
        try:
            f = open(part, "wb")  # noqa: SIM115 - closed in both branches below
        except OSError as exc:
            raise store_error(exc, part) from None
        try:
            yield f
        except BaseException:
            f.close()
            part.unlink(missing_ok=True)
            raise
        try:
            f.close()
            os.replace(part, final)
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise store_error(exc, final) from None

    def assemble(self, stream: str, count: int, dest: Path) -> int:
        """Concatenate segments ``0..count-1`` of ``stream`` into ``dest`` atomically.

        Blocking (run it in a thread); memory stays bounded by the copy buffer.
        """
        part = dest.with_name(dest.name + ".part")
        total = 0
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(part, "wb") as out:
                for index in range(count):
                    with open(self.segment_path(stream, index), "rb") as src:
                        shutil.copyfileobj(src, out, 1 << 20)
                        total = out.tell()
            os.replace(part, dest)
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise store_error(exc, dest) from None
        return total

    def remove(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
