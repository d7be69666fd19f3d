"""The full-screen terminal UI (Textual), hosting the trio job as a guest.

``run_ui(job)`` runs ``job(consumer, control, say)`` inside trio under the app and
returns its exit code; :class:`TriosegApp` is the app itself and :func:`replay` a job
that replays scripted events (tests, screenshots).
"""

from __future__ import annotations

from .app import TriosegApp, run_ui
from .bridge import Bridge, Job, Say, replay

__all__ = ["Bridge", "Job", "Say", "TriosegApp", "replay", "run_ui"]
