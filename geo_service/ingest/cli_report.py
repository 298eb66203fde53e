"""The `load` command's work: options from the command line, and the report for people."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine

from geo_service.errors import GeoServiceError
from geo_service.ingest.loader import LoadOptions, LoadReport, ProgressFn, load_file
from geo_service.ingest.rows import key_note

_SHOWN = 200  # rows of a per-field diff printed before "…"
_XY = {"easting,northing": False, "northing,easting": True}


def parse_scope(text: str | None) -> str | None:
    """The township code of --replace-scope township=CODE."""
    if text is None:
        return None
    name, sep, code = text.partition("=")
    if name.strip() != "township" or not sep or not code.strip().isdigit():
        raise GeoServiceError(f"--replace-scope「{text}」：请写成 township=12位镇街代码")
    return code.strip()


def run_load(engine: Engine, layer: str, file: Path, *, progress: ProgressFn | None,
             crs: str | None, xy: str, replace_scope: str | None, **given) -> LoadReport:
    """Load (or preview) a file with the command line's options."""
    if xy not in _XY:
        raise GeoServiceError(f"--xy「{xy}」：只能是 easting,northing 或 northing,easting")
    from geo_service.cli_state import state

    data = state().settings.data
    options = LoadOptions(input_crs=crs, northing_first=_XY[xy],
                          replace_township=parse_scope(replace_scope),
                          district_code=data.district_code,
                          district_tolerance_m=data.district_tolerance_m, **given)
    return load_file(engine, layer, file, progress=progress, options=options)


def _show(value: object) -> str:
    """A stored or new value as a short text."""
    if value is None or value == "" or value == []:
        return "（空）"
    if isinstance(value, BaseGeometry):
        point = value.representative_point()
        return f"{value.geom_type}({point.x:.6f}, {point.y:.6f})"
    if isinstance(value, list):
        return "、".join(map(str, value))
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def change_lines(report: LoadReport) -> list[str]:
    """One line per updated row: its key and name, and each field old → new."""
    lines = []
    for change in report.changes[:_SHOWN]:
        parts = []
        for name, (old, new) in change.fields.items():
            header = report.headers.get(name) or {"geom": "位置", "rep_point": "代表点",
                                                  "site_area": "场地范围"}.get(name, name)
            parts.append(f"{header}：{_show(old)} → {_show(new)}")
        lines.append(f"更新「{change.name}」{key_note(change.key)}：" + "；".join(parts))
    if len(report.changes) > _SHOWN:
        lines.append(f"……另有 {len(report.changes) - _SHOWN} 行更新")
    return lines


def print_report(report: LoadReport, out: Console, err: Console) -> None:
    """Notes, skipped rows, duplicates, changes and the summary line."""
    def say(console: Console, line: str) -> None:
        console.print(line, markup=False, highlight=False)

    for note in report.notes:
        say(err, f"说明：{note}")
    if report.unclaimed:
        say(err, f"未识别的列（原样保存在 extra 中）：{'、'.join(report.unclaimed)}")
    for problem in report.skipped:
        say(err, f"{'有问题' if report.dry_run else '已跳过'} {problem}")
    if report.errors_file:
        say(err, f"有问题的行已写入 {report.errors_file}（含 错误原因 列，改好后可直接重新导入）")
    for message in report.near_duplicates:
        say(err, f"疑似重复：{message}")
    for line in change_lines(report) if report.dry_run else []:
        say(out, line)
    for retired in report.retired:
        say(out, f"{'将停用' if report.dry_run else '已停用'}（停业、不公开）：{retired}")
    say(out, report.summary())
    if report.indexed:
        say(err, f"地名搜索索引已更新：{report.indexed} 条记录（{report.index_seconds:.1f} 秒）")
