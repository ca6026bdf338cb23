"""How the chat page shows text: every string from outside as text, never as markup.

The chat renders sanitised HTML with Markdown and LaTeX off and gets it HTML-escaped (`escape`); a
Markdown line gets every punctuation mark escaped too (`markdown_text`); an answer becomes one message
and one collapsible message per source (`to_messages`), the supporting sentence marked in its passage.

Left out: anything interactive (the page's layout is `ui_chat` and `ui_archive`).
"""

from __future__ import annotations

import html
import re
from typing import Any

from .types import Answer, Citation

__all__ = ["CSS", "escape", "format_answer", "format_source", "markdown_text", "short_date", "to_messages"]

# every ASCII punctuation mark but the & and ; of HTML entities
_MD_PUNCTUATION = re.compile(r"""([!"#$%'()*+,\-./:<=>?@\[\\\]^_`{|}~])""")

CSS = """
.gradio-container {max-width: 1100px !important; margin: auto;}
#title h1 {margin-bottom: 0;}
#status {font-size: 0.9em; opacity: 0.85;}
.refusal {border-left: 4px solid #d97706; padding: 4px 10px; background: rgba(217,119,6,0.08);}
.cite-meta {font-size: 0.85em; opacity: 0.8;}
mark {background: #fde68a; color: inherit; padding: 0 2px;}
#conversations {max-height: 560px; overflow-y: auto;}
"""


def escape(text: str) -> str:
    """Text that shows literally in the chat, which renders sanitised HTML (no Markdown, no LaTeX)."""
    return "<br>".join(html.escape(text, quote=False).splitlines())


def markdown_text(text: str) -> str:
    """Text that shows literally in a gr.Markdown: no tags, and no emphasis, links, autolinks, headings,
    lists or LaTeX either (CommonMark shows any backslash-escaped punctuation mark as itself)."""
    return _MD_PUNCTUATION.sub(r"\\\1", html.escape(text, quote=False))


def short_date(published: str) -> str:
    return published[:16].replace("T", " ") if published else "undated"


def format_answer(answer: Answer) -> str:
    """The answer bubble: the text with its markers, or a visibly different refusal."""
    if answer.refused:
        return (
            '<div class="refusal"><b>Not in the archive.</b> '
            f"{escape(answer.text)}<br><small>Try rephrasing, or widen the date range.</small></div>"
        )
    return escape(answer.text)


def format_source(c: Citation) -> tuple[str, str]:
    """(collapsed title, body) of one citation: the passage with its supporting sentence highlighted."""
    start, end = c.span
    text = c.text
    body = escape(text[:start]) + "<mark>" + escape(text[start:end]) + "</mark>" + escape(text[end:])
    meta = f"{short_date(c.published)} · {c.source or 'unknown source'}"
    if c.also_in:
        meta += f" · also in {', '.join(c.also_in)}"
    link = (
        f' · <a href="{html.escape(c.url, quote=True)}" target="_blank" rel="noopener noreferrer">link</a>'
        if c.url.lower().startswith(("http://", "https://"))
        else ""
    )
    # Gradio renders the title like a message: escaped the same way, it shows as text
    title = f"[{c.n}] {escape(c.title)}"
    return title, f'<div class="cite-meta">{escape(meta)}{link}</div>{body}'


def to_messages(answer: Answer) -> list[dict[str, Any]]:
    """The chat messages showing one answer: the answer, then one collapsible message per source."""
    messages: list[dict[str, Any]] = [{"role": "assistant", "content": format_answer(answer)}]
    for c in answer.citations:
        title, body = format_source(c)
        messages.append(
            {"role": "assistant", "content": body, "metadata": {"title": title, "status": "done"}}
        )
    return messages
