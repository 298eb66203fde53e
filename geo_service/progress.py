"""Progress shown on stderr for long work (loads, analyses): bars and numbered steps."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

_err = Console(stderr=True, soft_wrap=True)


def _bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=_err, transient=True)


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress bar per stage; yields a (stage, done, total) callback, or None if off."""
    if not enabled:
        yield None
        return
    with _bar() as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


@contextmanager
def steps(total: int, enabled: bool | None = None) -> Iterator[Callable[[str], None]]:
    """A job of `total` steps (shown on a terminal only); yields step(label) to call per step."""
    if not (sys.stderr.isatty() if enabled is None else enabled):
        yield lambda label: None
        return
    with _bar() as bar:
        task = bar.add_task("", total=total)
        done = 0

        def step(label: str) -> None:
            nonlocal done
            bar.update(task, description=label, completed=done)
            bar.refresh()  # steps are few and slow: show each at once
            done += 1

        yield step
        bar.update(task, completed=total)
