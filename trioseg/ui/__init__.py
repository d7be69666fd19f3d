"""The full-screen terminal UI (Textual), hosting the trio work as a guest.

``run_ui(job)`` runs ``job(consumer, control, say)`` inside trio under the app and
returns its exit code; ``run_ui_batch(batch, labels)`` does the same for a batch, with a
consumer and a control per job.  :class:`TriosegApp` and :class:`BatchApp` are the apps
themselves, :func:`replay` and :func:`replay_batch` replay scripted events (tests,
screenshots).
"""

from __future__ import annotations

from .app import TriosegApp, run_ui
from .batch import BatchApp, run_ui_batch
from .bridge import Batch, Bridge, Job, Say, replay, replay_batch

__all__ = [
    "Batch",
    "BatchApp",
    "Bridge",
    "Job",
    "Say",
    "TriosegApp",
    "replay",
    "replay_batch",
    "run_ui",
    "run_ui_batch",
]
