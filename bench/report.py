"""Printing the results as a table and saving them as JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.figures import Figure, Outcome


def fmt(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "—"
    if unit == "x":
        return f"{value:.2f}×"
    if unit in ("", "calls", "rounds", "count"):
        return f"{value:,.0f}" + (f" {unit}" if unit else "") if value == int(value) else f"{value:,.2f} {unit}"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2 if unit != "ms" else 1
    digits = 2 if unit == "s" else digits
    return f"{value:,.{digits}f} {unit}".strip()


def verdict(figure: Figure) -> str:
    if figure.met is None:
        return ""
    if figure.met:
        return "[green]yes[/green]"
    miss = figure.miss or 0.0
    share = f", {miss / figure.target:+.0%}" if figure.target else ""
    return f"[red]NO: +{fmt(miss, figure.unit)}{share}[/red]"


def table(results: dict[str, Any]) -> Table:
    grid = Table(title="Crisis Desk benchmarks", show_lines=False)
    for column, justify in (
        ("benchmark", "left"),
        ("figure", "left"),
        ("value", "right"),
        ("target", "right"),
        ("met?", "left"),
        ("note", "left"),
    ):
        grid.add_column(column, justify=justify)  # type: ignore[arg-type]
    for name, result in results.items():
        if result.get("error"):
            grid.add_row(name, "[red]failed[/red]", "", "", "", result["error"][:120])
        outcome: Outcome | None = result.get("outcome")
        for figure in outcome.figures if outcome else []:
            target = f"≤ {fmt(figure.target, figure.unit)}" if figure.target is not None else ""
            grid.add_row(name, figure.name, fmt(figure.value, figure.unit), target, verdict(figure), figure.note)
        grid.add_section()
    return grid


def print_table(results: dict[str, Any], console: Console) -> None:
    console.print(table(results))


def save(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str, allow_nan=False) + "\n", encoding="utf-8")


def as_json(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, result in results.items():
        outcome: Outcome | None = result.get("outcome")
        out[name] = {
            "seconds": round(result["seconds"], 2),
            "load_average_at_start": result.get("load_average"),
            "error": result.get("error"),
            "trace": result.get("trace"),
            "figures": [f.as_json() for f in outcome.figures] if outcome else [],
            "details": _finite(outcome.details) if outcome else {},
        }
    return out


def _finite(value: Any) -> Any:
    """NaN/inf are not JSON: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
