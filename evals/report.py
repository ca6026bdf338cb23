"""The report of one run: `report.md` and `report.html` (with two PNG plots) next to its results.

What is here: the headline figures with each metric's description (`METRICS`), a table by question kind,
the support judge's calibration as the error bar of the judge-based metrics, an optional "ours vs
baseline" table, a plot of accuracy and refusal recall by kind, a latency histogram, and every failed
question with its answer, the scorer's reasons and the cited passages (supporting text highlighted).

What is deliberately not here: scoring or aggregating (`metrics`), running anything (`runner`). The HTML
is self-contained (inline CSS, plots inlined as base64, no script, no external URL), and every piece of
text that came from a question, an answer or an article is escaped.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .metrics import METRICS, MetricSpec, metric_spec
from .runner import QuestionResult

__all__ = [
    "SUPPORT_METRICS",
    "direction",
    "format_delta",
    "format_value",
    "is_failure",
    "metric_names",
    "write_report",
]

# The metrics that rest on the support judge's verdicts: its calibration is their error bar.
SUPPORT_METRICS = ("answerable_right_and_cited", "citation_recall", "citation_precision", "faithfulness")
# Summary keys shown as plain numbers rather than percentages.
_PLAIN = {"mrr"}
_HEADLINE = (
    "accuracy",
    "refusal_recall",
    "refusal_precision",
    "wrong_refusal_rate",
    "citation_precision",
    "evidence_hit",
    "total_p50_s",
)
_SHORT = 220


# ---------------------------------------------------------------------------------------------------------
# Formatting


def _spec(name: str) -> MetricSpec | None:
    try:
        return metric_spec(name)
    except KeyError:
        return None


def _is_count(name: str) -> bool:
    return name == "n" or name.startswith("n_")


def format_value(name: str, value: Any) -> str:
    """A summary value for people: rates as percentages, seconds with 2 decimals, counts whole, None "–"."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if _is_count(name):
        return str(int(value))
    if name.endswith("_s"):
        return f"{value:.2f} s"
    if name in _PLAIN:
        return f"{value:.3f}"
    return f"{100 * value:.1f}%"


def format_delta(name: str, a: Any, b: Any) -> str:
    """`a - b` in the unit of the metric (percentage points for rates); "–" when either is missing."""
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return "–"
    delta = a - b
    if _is_count(name):
        return f"{int(delta):+d}"
    if name.endswith("_s"):
        return f"{delta:+.2f} s"
    if name in _PLAIN:
        return f"{delta:+.3f}"
    return f"{100 * delta:+.1f} pp"


def direction(name: str, a: Any, b: Any) -> str:
    """ "better", "worse" or "same" for ours (`a`) against `b`; "" when it does not apply."""
    spec = _spec(name)
    if spec is None or spec.higher_is_better is None:
        return ""
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return ""
    if abs(a - b) < 1e-9:
        return "same"
    return "better" if (a > b) == spec.higher_is_better else "worse"


def metric_names(*overalls: dict[str, Any]) -> list[str]:
    """Summary keys in the order of `METRICS`, then any others in the order met."""
    known = [s.name for s in METRICS]
    present: list[str] = []
    for overall in overalls:
        present += [k for k in overall if k not in present]
    return [k for k in known if k in present] + [k for k in present if k not in known]


def _md(text: Any) -> str:
    """Text for a Markdown table cell: escaped HTML, escaped pipes, one line."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def _md_text(text: str) -> str:
    """Free text in Markdown: HTML escaped so a renderer shows it as text."""
    return html.escape(text, quote=False)


def _e(text: Any) -> str:
    return html.escape(str(text))


def _shorten(text: str, limit: int = _SHORT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


# ---------------------------------------------------------------------------------------------------------
# Failures


def is_failure(result: QuestionResult) -> bool:
    """A question failed when it is wrong, refused wrongly, cites badly, misses the evidence or errored."""
    score = result.score
    precision = score.get("citation_precision")
    return (
        score.get("correct") is False
        or score.get("refusal_ok") is False
        or (precision is not None and precision < 1.0)
        or score.get("evidence_hit") is False
        or result.error is not None
    )


def _failure_labels(result: QuestionResult) -> list[str]:
    score = result.score
    labels = []
    if score.get("correct") is False:
        labels.append("wrong")
    if score.get("refusal_ok") is False:
        labels.append("should have refused" if score.get("should_refuse") else "refused wrongly")
    precision = score.get("citation_precision")
    if precision is not None and precision < 1.0:
        labels.append(f"citation precision {100 * precision:.0f}%")
    if score.get("evidence_hit") is False:
        labels.append("evidence not cited")
    if result.error:
        labels.append("error")
    return labels


def _expected(result: QuestionResult, gold: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, text) lines saying what the right answer was."""
    if not result.answerable:
        lines = [("expected", "a refusal (the articles do not say)")]
        if gold and gold.get("reference"):
            lines.append(("reference", str(gold["reference"])))
        return lines
    if gold is None:
        return [("expected", "an answer (gold answers are in the set's questions.jsonl)")]
    lines = []
    if gold.get("answers"):
        lines.append(("any of", " / ".join(str(a) for a in gold["answers"])))
    if gold.get("answers_all"):
        lines.append(("all of", " / ".join(str(a) for a in gold["answers_all"])))
    if gold.get("reference"):
        lines.append(("reference", str(gold["reference"])))
    if gold.get("evidence"):
        lines.append(("evidence", " … ".join(str(e) for e in gold["evidence"])))
    return lines or [("expected", "an answer")]


def _highlight(text: str, support: str) -> str:
    """The passage escaped, with the supporting text (if found in it) wrapped in <mark>."""
    support = (support or "").strip()
    start = text.find(support) if support else -1
    if start < 0 and support:
        start = text.lower().find(support.lower())
    if start < 0:
        return _e(text)
    end = start + len(support)
    return f"{_e(text[:start])}<mark>{_e(text[start:end])}</mark>{_e(text[end:])}"


def _md_highlight(text: str, support: str) -> str:
    support = (support or "").strip()
    start = text.find(support) if support else -1
    if start < 0:
        return _md_text(text)
    end = start + len(support)
    return f"{_md_text(text[:start])}**{_md_text(text[start:end])}**{_md_text(text[end:])}"


# ---------------------------------------------------------------------------------------------------------
# Plots


def _plot(out: Path, summary: dict[str, Any], results: Sequence[QuestionResult]) -> dict[str, Path]:
    """Save score_by_kind.png and latency.png in `out`; returns {name: path}."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups = {"overall": summary.get("overall", {}), **summary.get("by_kind", {})}
    names = list(groups)
    series = (
        ("accuracy", "accuracy (answerable)", "#3b7dd8"),
        ("refusal_recall", "refusal recall (unanswerable)", "#e08a2c"),
        ("wrong_refusal_rate", "wrong refusals (answerable)", "#c0392b"),
    )
    fig = Figure(figsize=(max(6.0, 1.3 * len(names) + 2), 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / len(series)
    drawn = False
    for i, (key, label, colour) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j, name in enumerate(names)]
        values = [groups[name].get(key) for name in names]
        kept = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
        if not kept:
            continue
        bars = ax.bar([x for x, _ in kept], [100 * v for _, v in kept], width, label=label, color=colour)
        ax.bar_label(bars, labels=[f"{100 * v:.0f}" for _, v in kept], fontsize=7, padding=1)
        drawn = True
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([f"{name}\n(n={groups[name].get('n', '?')})" for name in names], fontsize=8)
    ax.set_ylim(0, 112)
    ax.set_ylabel("%")
    ax.set_title("Accuracy and refusals by kind")
    if drawn:
        ax.legend(
            fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=len(series), frameon=False
        )
    else:
        ax.text(0.5, 0.5, "no scores", ha="center", va="center", transform=ax.transAxes)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    paths = {"score_by_kind": out / "score_by_kind.png"}
    fig.savefig(paths["score_by_kind"])

    fig = Figure(figsize=(6.5, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    first = [r.first_token_s for r in results if r.first_token_s is not None]
    total = [r.total_s for r in results if r.total_s is not None]
    if first or total:
        top = max(first + total) or 1.0
        bins = [top * i / 20 for i in range(21)]
        ax.hist([first, total], bins=bins, label=["first token", "total"], color=["#3b7dd8", "#e08a2c"])
        for values, colour in ((first, "#3b7dd8"), (total, "#e08a2c")):
            if values:
                ax.axvline(float(np.median(values)), color=colour, linestyle="--", linewidth=1)
        ax.legend(fontsize=8, title="dashed: median", title_fontsize=7)
    else:
        ax.text(0.5, 0.5, "no questions", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("seconds")
    ax.set_ylabel("questions")
    ax.set_title("Latency per question")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    paths["latency"] = out / "latency.png"
    fig.savefig(paths["latency"])
    return paths


# ---------------------------------------------------------------------------------------------------------
# The report


def _counts(results: Sequence[QuestionResult]) -> dict[str, tuple[int, int]]:
    """(hits, of) behind the headline rates."""
    graded = [r for r in results if r.answerable and r.score.get("correct") is not None]
    unanswerable = [r for r in results if not r.answerable]
    answerable = [r for r in results if r.answerable]
    return {
        "accuracy": (sum(1 for r in graded if r.score.get("correct")), len(graded)),
        "refusal_recall": (sum(1 for r in unanswerable if r.score.get("refused")), len(unanswerable)),
        "wrong_refusal_rate": (sum(1 for r in answerable if r.score.get("refused")), len(answerable)),
    }


def _error_bar(calibration: dict[str, Any] | None) -> str:
    if not calibration or calibration.get("accuracy") is None:
        return ""
    return f"±{100 * (1 - float(calibration['accuracy'])):.0f} pp"


def _calibration_text(calibration: dict[str, Any] | None) -> str:
    """One paragraph (plain text) on the judge's calibration."""
    if not calibration:
        return "No judge calibration was given: read the support-based metrics without an error bar."
    metrics = ", ".join(SUPPORT_METRICS)
    name = f" ({calibration['judge']})" if calibration.get("judge") else ""
    if not isinstance(calibration.get("accuracy"), int | float):
        return (
            f"The support-based metrics ({metrics}) rest on the support judge{name}, which has no "
            f"calibration: {calibration.get('note', 'none was given')}. Read them without an error bar."
        )
    return (
        f"The support-based metrics ({metrics}) rest on the support judge{name}. On HaluEval QA "
        f"(n={calibration.get('n')} cases) it has accuracy {format_value('a', calibration.get('accuracy'))}, "
        f"balanced accuracy {format_value('a', calibration.get('balanced_accuracy'))} and AUC "
        f"{calibration.get('auc', 0):.3f}: it misjudges about one case in "
        f"{_one_in(calibration.get('accuracy'))}, so read those metrics with an error bar of "
        f"{_error_bar(calibration)}."
    )


def _one_in(accuracy: Any) -> str:
    if not isinstance(accuracy, int | float) or accuracy >= 1:
        return "∞"
    return f"{1 / (1 - accuracy):.0f}"


def write_report(
    out: Path,
    summary: dict[str, Any],
    results: list[QuestionResult],
    calibration: dict[str, Any] | None,
    baseline: dict[str, Any] | None = None,
    questions: Iterable[dict[str, Any]] | None = None,
) -> None:
    """Write report.md, report.html, score_by_kind.png and latency.png into `out`.

    `summary` is the run's summary.json (`overall`, `by_kind`, and optionally `set`, `backend`,
    `settings`, `date`); `calibration` is `Calibration.to_dict()` of the support judge; `baseline` is
    another run's summary to compare against; `questions` (the set's rows) adds the gold answers to the
    failed questions.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gold = {str(q.get("id")): q for q in questions or []}
    plots = _plot(out, summary, results)
    failures = [r for r in results if is_failure(r)]
    report = _Report(summary, results, calibration, baseline, gold, failures)
    (out / "report.md").write_text(report.markdown(plots), encoding="utf-8")
    (out / "report.html").write_text(report.html(plots), encoding="utf-8")


class _Report:
    def __init__(
        self,
        summary: dict[str, Any],
        results: Sequence[QuestionResult],
        calibration: dict[str, Any] | None,
        baseline: dict[str, Any] | None,
        gold: dict[str, dict[str, Any]],
        failures: Sequence[QuestionResult],
    ) -> None:
        self.summary = summary
        self.overall: dict[str, Any] = summary.get("overall", {})
        self.by_kind: dict[str, dict[str, Any]] = summary.get("by_kind", {})
        self.results = results
        self.calibration = calibration
        self.baseline = baseline
        self.gold = gold
        self.failures = failures
        self.counts = _counts(results)
        self.title = f"Eval report: {summary.get('set', 'run')} ({summary.get('backend', '?')})"
        self.date = str(summary.get("date") or time.strftime("%Y-%m-%d %H:%M"))
        settings = summary.get("settings") or {}
        self.settings = ", ".join(f"{k}={v}" for k, v in settings.items()) or "–"

    # -- shared pieces ------------------------------------------------------------------------------------

    def value(self, name: str, value: Any) -> str:
        text = format_value(name, value)
        if name in self.counts and value is not None:
            hits, of = self.counts[name]
            text += f" ({hits}/{of})"
        if name in SUPPORT_METRICS and value is not None and self.calibration:
            text += f" {_error_bar(self.calibration)}"
        return text

    def headline(self) -> str:
        parts = [
            f"{k.replace('_', ' ').replace(' p50 s', ' (median)')} {self.value(k, self.overall.get(k))}"
            for k in _HEADLINE
            if self.overall.get(k) is not None
        ]
        n = len(self.results) or self.overall.get("n", 0)
        return f"{len(self.failures)} of {n} questions failed. " + "; ".join(parts) + "."

    def kind_columns(self) -> list[str]:
        return ["overall", *self.by_kind]

    def kind_rows(self) -> list[str]:
        groups = [self.overall, *self.by_kind.values()]
        return [k for k in metric_names(*groups) if any(g.get(k) is not None for g in groups)]

    def baseline_rows(self) -> list[tuple[str, str, str, str, str]]:
        assert self.baseline is not None
        theirs = self.baseline.get("overall", {})
        rows = []
        for name in metric_names(self.overall, theirs):
            a, b = self.overall.get(name), theirs.get(name)
            if a is None and b is None:
                continue
            rows.append(
                (
                    name,
                    format_value(name, a),
                    format_value(name, b),
                    format_delta(name, a, b),
                    direction(name, a, b),
                )
            )
        return rows

    def baseline_label(self) -> str:
        assert self.baseline is not None
        parts = [str(self.baseline.get(k)) for k in ("set", "backend", "date") if self.baseline.get(k)]
        return ", ".join(parts) or "baseline"

    # -- Markdown -----------------------------------------------------------------------------------------

    def markdown(self, plots: dict[str, Path]) -> str:
        lines = [
            f"# {_md_text(self.title)}",
            "",
            f"- date: {_md_text(self.date)}",
            f"- settings: {_md_text(self.settings)}",
            f"- questions: {len(self.results)}",
            "",
            f"**{_md_text(self.headline())}**",
            "",
            "## Overall",
            "",
            "| metric | value | what it measures |",
            "|---|---:|---|",
        ]
        for name in metric_names(self.overall):
            spec = _spec(name)
            lines.append(
                f"| {_md(name)} | {_md(self.value(name, self.overall.get(name)))} | "
                f"{_md(spec.description if spec else '')} |"
            )
        lines += ["", "## Judge calibration", "", _md_text(_calibration_text(self.calibration)), ""]
        if self.calibration:
            lines += [
                "| n | accuracy | balanced accuracy | AUC | threshold |",
                "|---:|---:|---:|---:|---:|",
                f"| {self.calibration.get('n')} | {format_value('a', self.calibration.get('accuracy'))} | "
                f"{format_value('a', self.calibration.get('balanced_accuracy'))} | "
                f"{self.calibration.get('auc', 0):.3f} | {self.calibration.get('threshold')} |",
                "",
            ]
        if self.baseline is not None:
            lines += [
                f"## Ours vs baseline ({_md_text(self.baseline_label())})",
                "",
                "| metric | ours | baseline | difference | change |",
                "|---|---:|---:|---:|---|",
            ]
            lines += [f"| {' | '.join(_md(c) for c in row)} |" for row in self.baseline_rows()]
            lines.append("")
        columns = self.kind_columns()
        lines += [
            "## By kind",
            "",
            "| metric | " + " | ".join(_md(c) for c in columns) + " |",
            "|---|" + "---:|" * len(columns),
        ]
        groups = [self.overall, *self.by_kind.values()]
        for name in self.kind_rows():
            cells = [format_value(name, g.get(name)) for g in groups]
            lines.append(f"| {_md(name)} | " + " | ".join(_md(c) for c in cells) + " |")
        lines += [
            "",
            "## Plots",
            "",
            f"![accuracy and refusals by kind]({plots['score_by_kind'].name})",
            "",
            f"![latency]({plots['latency'].name})",
            "",
            f"## Failed questions ({len(self.failures)})",
            "",
        ]
        if not self.failures:
            lines += ["None.", ""]
        for r in self.failures:
            lines += self._md_failure(r)
        return "\n".join(lines).rstrip() + "\n"

    def _md_failure(self, r: QuestionResult) -> list[str]:
        lines = [
            f"### {_md_text(r.id)} [{_md_text(r.kind)}]: {_md_text(', '.join(_failure_labels(r)))}",
            "",
        ]
        for turn in r.history:
            lines.append(f"- *{_md_text(turn.get('role', '?'))}:* {_md_text(turn.get('content', ''))}")
        lines.append(f"- **question:** {_md_text(r.question)}")
        if r.standalone_question and r.standalone_question != r.question:
            lines.append(f"- *rewritten as:* {_md_text(r.standalone_question)}")
        for label, text in _expected(r, self.gold.get(r.id)):
            lines.append(f"- *{label}:* {_md_text(text)}")
        lines.append(f"- **answer{' (refused)' if r.refused else ''}:** {_md_text(r.answer) or '(empty)'}")
        if r.error:
            lines.append(f"- **error:** {_md_text(r.error)}")
        for note in r.notes:
            lines.append(f"- *note:* {_md_text(note)}")
        lines += ["", "Reasons:", ""]
        lines += [f"- {_md_text(reason)}" for reason in r.score.get("reasons") or ["(none given)"]]
        lines.append("")
        for c in r.citations:
            title = f"[{c.get('n')}] {c.get('title', '')}"
            if c.get("published"):
                title += f" ({c['published']})"
            lines += [f"> **{_md_text(title)}**", ">"]
            body = _md_highlight(str(c.get("text", "")), str(c.get("supporting_text", "")))
            lines += [f"> {line}" if line else ">" for line in body.splitlines()]
            lines.append("")
        return lines

    # -- HTML ---------------------------------------------------------------------------------------------

    def html(self, plots: dict[str, Path]) -> str:
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(self.title)}</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>{_e(self.title)}</h1>",
            f'<p class="meta">{_e(self.date)} · {_e(self.settings)} · {len(self.results)} questions</p>',
            f'<p class="headline {"bad" if self.failures else "good"}">{_e(self.headline())}</p>',
            "<h2>Overall</h2>",
            '<table><thead><tr><th>metric</th><th class="num">value</th><th>what it measures</th></tr>'
            "</thead><tbody>",
        ]
        for name in metric_names(self.overall):
            spec = _spec(name)
            css = ' class="support"' if name in SUPPORT_METRICS and self.calibration else ""
            parts.append(
                f"<tr{css}><td><code>{_e(name)}</code></td>"
                f'<td class="num">{_e(self.value(name, self.overall.get(name)))}</td>'
                f"<td>{_e(spec.description if spec else '')}</td></tr>"
            )
        parts += ["</tbody></table>", "<h2>Judge calibration</h2>"]
        parts.append(f"<p>{_e(_calibration_text(self.calibration))}</p>")
        if self.calibration:
            c = self.calibration
            parts.append(
                '<table><thead><tr><th class="num">n</th><th class="num">accuracy</th>'
                '<th class="num">balanced accuracy</th><th class="num">AUC</th>'
                '<th class="num">threshold</th></tr></thead><tbody><tr>'
                f'<td class="num">{_e(c.get("n"))}</td>'
                f'<td class="num">{_e(format_value("a", c.get("accuracy")))}</td>'
                f'<td class="num">{_e(format_value("a", c.get("balanced_accuracy")))}</td>'
                f'<td class="num">{c.get("auc", 0):.3f}</td>'
                f'<td class="num">{_e(c.get("threshold"))}</td></tr></tbody></table>'
            )
        if self.baseline is not None:
            parts += [
                f"<h2>Ours vs baseline <small>({_e(self.baseline_label())})</small></h2>",
                '<table><thead><tr><th>metric</th><th class="num">ours</th><th class="num">baseline</th>'
                '<th class="num">difference</th><th>change</th></tr></thead><tbody>',
            ]
            for name, ours, theirs, delta, verdict in self.baseline_rows():
                parts.append(
                    f"<tr><td><code>{_e(name)}</code></td><td class='num'>{_e(ours)}</td>"
                    f"<td class='num'>{_e(theirs)}</td><td class='num'>{_e(delta)}</td>"
                    f"<td class='{_e(verdict)}'>{_e(verdict)}</td></tr>"
                )
            parts.append("</tbody></table>")
        columns = self.kind_columns()
        groups = [self.overall, *self.by_kind.values()]
        parts += [
            "<h2>By kind</h2>",
            "<table><thead><tr><th>metric</th>"
            + "".join(f'<th class="num">{_e(c)}</th>' for c in columns)
            + "</tr></thead><tbody>",
        ]
        for name in self.kind_rows():
            parts.append(
                f"<tr><td><code>{_e(name)}</code></td>"
                + "".join(f'<td class="num">{_e(format_value(name, g.get(name)))}</td>' for g in groups)
                + "</tr>"
            )
        parts += ["</tbody></table>", '<h2>Plots</h2><div class="plots">']
        for name, alt in (("score_by_kind", "accuracy and refusals by kind"), ("latency", "latency")):
            data = base64.b64encode(plots[name].read_bytes()).decode("ascii")
            parts.append(f'<img alt="{alt}" src="data:image/png;base64,{data}">')
        parts.append("</div>")
        parts.append(f'<section id="failures"><h2>Failed questions ({len(self.failures)})</h2>')
        if not self.failures:
            parts.append("<p>None.</p>")
        for r in self.failures:
            parts.append(self._html_failure(r))
        parts.append("</section>")
        parts.append(self._html_all_questions())
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"

    def _html_failure(self, r: QuestionResult) -> str:
        labels = "".join(f'<span class="tag">{_e(label)}</span>' for label in _failure_labels(r))
        head = f'<h3 id="q-{_e(r.id)}">{_e(r.id)} <small>[{_e(r.kind)}]</small> {labels}</h3>'
        ask = ["<dl>"]
        for turn in r.history:
            role, content = _e(turn.get("role", "?")), _e(turn.get("content", ""))
            ask.append(f"<dt>{role}</dt><dd class='history'>{content}</dd>")
        ask.append(f"<dt>question</dt><dd><strong>{_e(r.question)}</strong></dd>")
        if r.standalone_question and r.standalone_question != r.question:
            ask.append(f"<dt>rewritten as</dt><dd>{_e(r.standalone_question)}</dd>")
        for label, text in _expected(r, self.gold.get(r.id)):
            ask.append(f"<dt>{_e(label)}</dt><dd>{_e(text)}</dd>")
        ask.append("</dl>")
        left = [
            f"<h4>Answer{' (refused)' if r.refused else ''}</h4>",
            f'<div class="answer">{_e(r.answer) or "<em>(empty)</em>"}</div>',
        ]
        if r.error:
            left.append(f'<p class="error">{_e(r.error)}</p>')
        left += [f'<p class="note">note: {_e(note)}</p>' for note in r.notes]
        left.append("<h4>Why it failed</h4><ul class='reasons'>")
        left += [f"<li>{_e(reason)}</li>" for reason in r.score.get("reasons") or ["(no reason given)"]]
        left.append("</ul>")
        right = [f"<h4>Cited passages ({len(r.citations)})</h4>"]
        if not r.citations:
            right.append("<p><em>No citations.</em></p>")
        for c in r.citations:
            published = f" <small>{_e(c.get('published'))}</small>" if c.get("published") else ""
            right.append(
                f'<div class="passage"><div class="ptitle">[{_e(c.get("n"))}] {_e(c.get("title", ""))}'
                f"{published}</div>"
                f"<div>{_highlight(str(c.get('text', '')), str(c.get('supporting_text', '')))}</div></div>"
            )
        return (
            f'<article class="failure">{head}{"".join(ask)}<div class="pair">'
            f"<div>{''.join(left)}</div><div>{''.join(right)}</div></div></article>"
        )

    def _html_all_questions(self) -> str:
        rows = []
        for r in self.results:
            failed = is_failure(r)
            status = "✗ " + ", ".join(_failure_labels(r)) if failed else "✓"
            qid = f'<a href="#q-{_e(r.id)}">{_e(r.id)}</a>' if failed else _e(r.id)
            rows.append(
                f"<tr class='{'bad' if failed else 'good'}'><td>{qid}</td><td>{_e(r.kind)}</td>"
                f"<td>{_e(status)}</td><td>{_e(_shorten(r.question, 120))}</td>"
                f"<td class='num'>{r.total_s:.2f}</td></tr>"
            )
        return (
            '<section id="all"><h2>All questions</h2><table><thead><tr><th>id</th><th>kind</th>'
            '<th>result</th><th>question</th><th class="num">s</th></tr></thead><tbody>'
            + "".join(rows)
            + "</tbody></table></section>"
        )


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
.meta{color:#666;margin-top:0}
.headline{font-size:1.15em;padding:.6em .9em;border-radius:6px}
.headline.good{background:#e8f5e9}.headline.bad{background:#fff3e0}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f5f5f5}.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.support td:nth-child(2){background:#fffde7}
td.better{color:#2e7d32;font-weight:600}td.worse{color:#c62828;font-weight:600}td.same{color:#777}
tr.bad td:nth-child(3){color:#c62828}
.plots img{max-width:100%;margin:.5em 1em .5em 0;border:1px solid #eee}
article.failure{border:1px solid #e0e0e0;border-left:4px solid #e65100;border-radius:4px;
padding:.4em 1em 1em;margin:1.2em 0}
.tag{display:inline-block;background:#ffebee;color:#b71c1c;font-size:.7em;font-weight:600;
padding:.1em .5em;margin-left:.4em;border-radius:3px;vertical-align:middle}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;margin:.4em 0}
dt{color:#666}dd{margin:0}dd.history{color:#555;font-style:italic}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1.2em}
@media (max-width:800px){.pair{grid-template-columns:1fr}}
.answer{background:#f5f9ff;border:1px solid #dce7f7;padding:.5em .7em;border-radius:4px;white-space:pre-wrap}
.reasons li{margin:.15em 0}.error{color:#b71c1c}.note{color:#555;font-size:.9em}
.passage{border:1px solid #e5e5e5;background:#fafafa;padding:.5em .7em;margin-bottom:.6em;
border-radius:4px;font-size:.9em;white-space:pre-wrap}
.ptitle{font-weight:600;margin-bottom:.3em;white-space:normal}
mark{background:#fff176;padding:0 .1em}
h4{margin:.6em 0 .3em}
"""
