"""Developer sessions: ``nox -s tests lint typecheck demo bench screenshots``."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", "trioseg", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "trioseg", "tests", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test]", "mypy>=1.11")
    session.run("mypy", "--strict", "trioseg", "tests/bench")


@nox.session
def demo(session: nox.Session) -> None:
    session.install(".")
    session.run("trioseg", "--demo", "--headless", *session.posargs)


@nox.session
def screenshots(session: nox.Session) -> None:
    """Regenerate screenshots/ (SVG) from scripted events."""
    session.install("-e", ".[test]")
    session.run("python", "tests/make_screenshots.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against a local origin; writes the results table the README links to."""
    session.install("-e", ".[test]")
    session.run("python", "tests/bench/run.py", *session.posargs)
