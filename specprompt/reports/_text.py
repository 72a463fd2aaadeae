"""Text helpers shared by the sections of the HTML report."""

from __future__ import annotations

import html

__all__ = ["escape", "fmt_score"]


def escape(value: object) -> str:
    """``str(value)`` escaped for HTML text and attribute values.

    Example:
        >>> escape('a<b "c"')
        'a&lt;b &quot;c&quot;'
    """
    return html.escape(str(value), quote=True)


def fmt_score(value: object) -> str:
    """A score with four decimals, ``"-"`` for ``None``.

    Example:
        >>> fmt_score(0.5), fmt_score(None)
        ('0.5000', '-')
    """
    return "-" if value is None else f"{float(value):.4f}"  # type: ignore[arg-type]
