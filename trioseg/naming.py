"""Output names: ``-o`` templates and the container they imply (pure).

Fields: ``{title}`` (ProgramInformation/Title, else the manifest's file name), ``{id}``
(the selected representation ids joined by ``+``), ``{height}`` (the video's height),
``{lang}`` (the first audio language), ``{ext}`` (``mp4`` or ``mkv``).  Values are
cleaned so that they can never add a path component: separators, control characters,
and characters that some file systems refuse become ``_``, and leading dots go, so the
result stays in the folder the template names.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from .errors import UsageError
from .plan import Plan

__all__ = ["CONTAINER_EXTENSIONS", "container_for", "fill_template", "template_fields"]

#: container -> file extension; and the extensions that choose a container
CONTAINER_EXTENSIONS = {"mp4": "mp4", "matroska": "mkv"}
_BY_EXTENSION = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mp4", ".mkv": "matroska"}
_FIELDS = frozenset({"title", "id", "height", "lang", "ext"})
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\<>:"|?*]+')
DEFAULT_TEMPLATE = "{title}.{ext}"


_NOT_PLAIN = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, *, fallback: str = "stream") -> str:
    """A file-name component from untrusted text: never a path, never hidden."""
    name = _NOT_PLAIN.sub("_", text).strip("._")[:80]
    return name or fallback


def file_key(text: str) -> str:
    """What two names must differ in to get different files, even on a disk that
    ignores case: their :func:`safe_name`, lower-cased."""
    return safe_name(text).lower()


def clean(value: str, *, fallback: str = "_") -> str:
    text = _UNSAFE.sub("_", value).strip().lstrip(".").strip()
    return text[:150] or fallback


def container_for(output: str | None, requested: str | None) -> str:
    """The output container: ``--container`` if given, else from the ``-o`` extension,
    else MP4.  A contradiction is a usage error."""
    suffix = Path(output).suffix.lower() if output and "{ext}" not in output else ""
    implied = _BY_EXTENSION.get(suffix)
    if requested is not None:
        if implied is not None and implied != requested:
            raise UsageError(
                f"--container {CONTAINER_EXTENSIONS[requested]} does not match the output "
                f"name {output!r}"
            )
        return requested
    return implied or "mp4"


def template_fields(
    plan: Plan, title: str | None, manifest_url: str, container: str
) -> dict[str, str]:
    path = PurePosixPath(unquote(urlsplit(manifest_url).path))
    videos = [s for s in plan.streams if s.kind == "video"]
    audios = [s for s in plan.streams if s.kind == "audio"]
    height = max((s.height or 0 for s in videos), default=0)
    return {
        "title": title or path.stem or "trioseg",
        "id": "+".join(s.id for s in plan.streams),
        "height": str(height) if height else "",
        "lang": next((s.lang for s in audios if s.lang), ""),
        "ext": CONTAINER_EXTENSIONS[container],
    }


def fill_template(template: str, fields: Mapping[str, str]) -> Path:
    """``template`` with every field replaced by its cleaned value."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise UsageError(f"malformed output template {template!r}: {exc}") from None
    unknown = sorted(set(names) - _FIELDS)
    if unknown:
        raise UsageError(
            f"unknown field {{{unknown[0]}}} in output template {template!r} "
            f"(fields: {', '.join(sorted(_FIELDS))})"
        )
    try:
        values = {k: clean(v, fallback="_" if k == "title" else "") for k, v in fields.items()}
        text = template.format_map(values)
    except (ValueError, IndexError) as exc:
        raise UsageError(f"malformed output template {template!r}: {exc}") from None
    path = Path(text)
    return path if path.name else path / "trioseg"
