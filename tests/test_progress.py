"""Progress on stderr for long work: numbered steps and per-stage bars."""

from __future__ import annotations

import io

from rich.console import Console

from geo_service import progress


def _capture(monkeypatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(progress, "_err", Console(file=buffer, force_terminal=True, width=120))
    return buffer


def test_steps_show_each_label_and_finish(monkeypatch):
    buffer = _capture(monkeypatch)
    with progress.steps(3, enabled=True) as step:
        for label in ("读取村(社区)和设施", "计算覆盖", "输出结果"):
            step(label)
    shown = buffer.getvalue()
    assert all(label in shown for label in ("读取村(社区)和设施", "计算覆盖", "输出结果"))
    assert "3/3" in shown


def test_steps_and_bars_are_silent_when_off(monkeypatch):
    buffer = _capture(monkeypatch)
    with progress.steps(2, enabled=False) as step:
        step("hidden")
    with progress.progress_bar(False) as bar:
        assert bar is None
    assert buffer.getvalue() == ""


def test_progress_bar_tracks_each_stage(monkeypatch):
    buffer = _capture(monkeypatch)
    with progress.progress_bar(True) as bar:
        bar("checking rows", 500, 1000)
        bar("checking rows", 1000, 1000)
        bar("writing", 1000, 1000)
    shown = buffer.getvalue()
    assert "checking rows" in shown and "writing" in shown and "1000/1000" in shown
