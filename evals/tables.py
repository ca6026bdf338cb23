"""The one table renderer of the eval commands: rich tables rendered to plain text.

`table` lays out rows for a terminal or a pull-request comment (`bench`, `compare`); with `markdown=True`
it writes a Markdown pipe table instead (`check`, whose tables go into the README). Values are formatted
by `cell` (numbers with thousands separators and enough digits to read, None as "-", booleans as yes/no);
columns whose every cell is a number are right-aligned unless `justify` says otherwise.

Left out on purpose: colour and wrapping. The text goes to files and pull requests as often as to a
terminal, so a table is as wide as its content and carries no escape codes.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.table import Table

__all__ = ["cell", "table"]

Justify = Literal["left", "right"]


def cell(value: Any) -> str:
    """A value as a table shows it: 1,234; 12.35; 0.123; 0.00012; yes/no; "-" for None."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3f}" if abs(value) >= 0.001 else f"{value:.5f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _is_number(text: str) -> bool:
    return text == "-" or text.replace(",", "").replace(".", "").replace("%", "").lstrip("-").isdigit()


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    justify: Sequence[Justify] | None = None,
    markdown: bool = False,
) -> str:
    """`rows` under `headers` as text: a rule under the header, or a Markdown pipe table."""
    cells = [[cell(v) for v in row] for row in rows]
    sides: Sequence[Justify] = justify or [
        "right" if cells and all(_is_number(r[i]) for r in cells) else "left" for i in range(len(headers))
    ]
    grid = Table(
        box=box.MARKDOWN if markdown else box.SIMPLE_HEAD,
        show_edge=markdown,
        pad_edge=markdown,
        header_style="",
        collapse_padding=not markdown,
    )
    for header, side in zip(headers, sides, strict=True):
        grid.add_column(header, justify=side, no_wrap=True)
    for row in cells:
        grid.add_row(*row)
    out = io.StringIO()
    Console(file=out, width=100_000, color_system=None, force_terminal=False, highlight=False).print(grid)
    lines = (line.rstrip() for line in out.getvalue().splitlines())
    return "\n".join(line for line in lines if line)
