"""The report of one run: `report.md` and `report.html` (with two PNG plots) next to its results.

What is here: the headline figures with each metric's description (`METRICS`), a table by question kind,
the support judge's calibration as the error bar of the judge-based metrics, an optional "ours vs
baseline" table, a plot of accuracy and refusal recall by kind, a latency histogram, and every failed
question with its answer, the scorer's reasons and the cited passages (supporting text highlighted), and
for sets exported from readers' feedback (`evals.feedback`), each thumbed-down answer then and now.

`report_data` gathers all of it, formatted, into one `ReportData`; the Jinja templates
`templates/report.md.j2` and `templates/report.html.j2` lay that out, so both reports always show the
same figures. The HTML is self-contained (inline CSS, plots inlined as base64, no script, no external
URL) and autoescaped; in the Markdown, text that came from a question, an answer or an article is HTML
escaped too, so a renderer shows it as text.

What is deliberately not here: scoring or aggregating (`metrics`), running anything (`runner`).
"""

from __future__ import annotations

import base64
import functools
import html
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from .metrics import METRICS, MetricSpec, metric_spec
from .runner import QuestionResult

__all__ = [
    "SUPPORT_METRICS",
    "ReportData",
    "direction",
    "format_delta",
    "format_value",
    "is_failure",
    "metric_names",
    "render_html",
    "render_markdown",
    "report_data",
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
TEMPLATES = Path(__file__).resolve().parent / "templates"


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


def _split_support(text: str, support: str) -> tuple[str, str, str]:
    """(before, supporting text, after) of a passage; ("text", "", "") when the support is not found in it
    (compared as written, then ignoring case)."""
    support = (support or "").strip()
    start = text.find(support) if support else -1
    if start < 0 and support:
        start = text.lower().find(support.lower())
    if start < 0:
        return text, "", ""
    end = start + len(support)
    return text[:start], text[start:end], text[end:]


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


# ---------------------------------------------------------------------------------------------------------
# What both reports show: one data structure, rendered by templates/report.md.j2 and report.html.j2


@dataclass(frozen=True)
class MetricRow:
    name: str
    value: str  # formatted, with the counts behind a rate and the judge's error bar where they apply
    description: str
    support: bool  # rests on the support judge, whose calibration is given


@dataclass(frozen=True)
class CalibrationRow:
    n: str
    accuracy: str
    balanced_accuracy: str
    auc: str
    threshold: str


@dataclass(frozen=True)
class CitedPassage:
    n: str
    title: str
    published: str
    before: str  # the passage is before + support + after; support is "" when it was not found
    support: str
    after: str


@dataclass(frozen=True)
class FailedQuestion:
    id: str
    kind: str
    labels: tuple[str, ...]
    history: tuple[tuple[str, str], ...]  # (role, content)
    question: str
    rewritten: str  # the standalone question when it differs from the question, else ""
    expected: tuple[tuple[str, str], ...]  # (label, text)
    answer: str
    refused: bool
    error: str
    notes: tuple[str, ...]
    reasons: tuple[str, ...]
    citations: tuple[CitedPassage, ...]


@dataclass(frozen=True)
class QuestionLine:
    id: str
    kind: str
    failed: bool
    status: str
    question: str  # shortened
    total_s: str


@dataclass(frozen=True)
class ThumbedDown:
    """A question whose answer a reader thumbed down (a feedback set's row), and how it is answered now."""

    id: str
    question: str
    comment: str
    then: str
    now: str
    verdict: str  # "correct", "wrong" or "not labelled"


@dataclass(frozen=True)
class Plot:
    file: str
    alt: str
    png_base64: str


@dataclass(frozen=True)
class ReportData:
    """Everything report.md and report.html show, as text: the templates only lay it out and escape it."""

    title: str
    date: str
    settings: str
    questions: int
    headline: str
    overall: tuple[MetricRow, ...]
    calibration_text: str
    calibration: CalibrationRow | None
    baseline_label: str | None  # None: no baseline to compare with
    baseline_rows: tuple[tuple[str, str, str, str, str], ...]  # metric, ours, baseline, difference, change
    kind_columns: tuple[str, ...]
    kind_rows: tuple[tuple[str, tuple[str, ...]], ...]  # metric, its value per column
    plots: tuple[Plot, ...]
    failures: tuple[FailedQuestion, ...]
    all_questions: tuple[QuestionLine, ...]
    thumbed_down: tuple[ThumbedDown, ...] = ()


_PLOTS = (("score_by_kind", "accuracy and refusals by kind"), ("latency", "latency"))


def report_data(
    summary: dict[str, Any],
    results: Sequence[QuestionResult],
    calibration: dict[str, Any] | None,
    baseline: dict[str, Any] | None,
    gold: dict[str, dict[str, Any]],
    plots: dict[str, Path],
) -> ReportData:
    """The report of a run (see `write_report` for the arguments; `gold` maps question ids to set rows)."""
    overall: dict[str, Any] = summary.get("overall", {})
    by_kind: dict[str, dict[str, Any]] = {
        **summary.get("by_kind", {}),
        **{f"lang={lang}": figures for lang, figures in summary.get("by_lang", {}).items()},
    }
    counts = _counts(results)
    failures = [r for r in results if is_failure(r)]

    def value(name: str, raw: Any) -> str:
        text = format_value(name, raw)
        if name in counts and raw is not None:
            hits, of = counts[name]
            text += f" ({hits}/{of})"
        if name in SUPPORT_METRICS and raw is not None and calibration:
            text += f" {_error_bar(calibration)}"
        return text

    parts = [
        f"{k.replace('_', ' ').replace(' p50 s', ' (median)')} {value(k, overall.get(k))}"
        for k in _HEADLINE
        if overall.get(k) is not None
    ]
    n = len(results) or overall.get("n", 0)
    groups = [overall, *by_kind.values()]
    settings = summary.get("settings") or {}
    return ReportData(
        title=f"Eval report: {summary.get('set', 'run')} ({summary.get('backend', '?')})",
        date=str(summary.get("date") or time.strftime("%Y-%m-%d %H:%M")),
        settings=", ".join(f"{k}={v}" for k, v in settings.items()) or "–",
        questions=len(results),
        headline=f"{len(failures)} of {n} questions failed. " + "; ".join(parts) + ".",
        overall=tuple(
            MetricRow(
                name,
                value(name, overall.get(name)),
                spec.description if (spec := _spec(name)) else "",
                name in SUPPORT_METRICS and bool(calibration),
            )
            for name in metric_names(overall)
        ),
        calibration_text=_calibration_text(calibration),
        calibration=CalibrationRow(
            n=str(calibration.get("n")),
            accuracy=format_value("a", calibration.get("accuracy")),
            balanced_accuracy=format_value("a", calibration.get("balanced_accuracy")),
            auc=f"{calibration.get('auc', 0):.3f}",
            threshold=str(calibration.get("threshold")),
        )
        if calibration
        else None,
        baseline_label=_baseline_label(baseline) if baseline is not None else None,
        baseline_rows=_baseline_rows(overall, baseline.get("overall", {})) if baseline is not None else (),
        kind_columns=("overall", *by_kind),
        kind_rows=tuple(
            (name, tuple(format_value(name, g.get(name)) for g in groups))
            for name in metric_names(*groups)
            if any(g.get(name) is not None for g in groups)
        ),
        plots=tuple(
            Plot(plots[name].name, alt, base64.b64encode(plots[name].read_bytes()).decode("ascii"))
            for name, alt in _PLOTS
        ),
        failures=tuple(_failed_question(r, gold.get(r.id)) for r in failures),
        all_questions=tuple(
            QuestionLine(
                id=r.id,
                kind=r.kind,
                failed=is_failure(r),
                status="✗ " + ", ".join(_failure_labels(r)) if is_failure(r) else "✓",
                question=_shorten(r.question, 120),
                total_s=f"{r.total_s:.2f}",
            )
            for r in results
        ),
        thumbed_down=tuple(
            _thumbed_down(r, row) for r in results if (row := gold.get(r.id)) and row.get("rating") == -1
        ),
    )


def _thumbed_down(r: QuestionResult, row: dict[str, Any]) -> ThumbedDown:
    correct = r.score.get("correct")
    return ThumbedDown(
        id=r.id,
        question=r.question,
        comment=str(row.get("comment") or ""),
        then=str(row.get("given_answer") or ""),
        now=r.answer,
        verdict="not labelled" if correct is None else "correct" if correct else "wrong",
    )


def _baseline_label(baseline: dict[str, Any]) -> str:
    parts = [str(baseline.get(k)) for k in ("set", "backend", "date") if baseline.get(k)]
    return ", ".join(parts) or "baseline"


def _baseline_rows(
    ours: dict[str, Any], theirs: dict[str, Any]
) -> tuple[tuple[str, str, str, str, str], ...]:
    rows = []
    for name in metric_names(ours, theirs):
        a, b = ours.get(name), theirs.get(name)
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
    return tuple(rows)


def _failed_question(r: QuestionResult, gold: dict[str, Any] | None) -> FailedQuestion:
    citations = []
    for c in r.citations:
        before, support, after = _split_support(str(c.get("text", "")), str(c.get("supporting_text", "")))
        published = c.get("published")
        citations.append(
            CitedPassage(
                str(c.get("n")), str(c.get("title", "")), str(published or ""), before, support, after
            )
        )
    return FailedQuestion(
        id=r.id,
        kind=r.kind,
        labels=tuple(_failure_labels(r)),
        history=tuple((str(t.get("role", "?")), str(t.get("content", ""))) for t in r.history),
        question=r.question,
        rewritten=r.standalone_question if r.standalone_question != r.question else "",
        expected=tuple(_expected(r, gold)),
        answer=r.answer,
        refused=r.refused,
        error=r.error or "",
        notes=tuple(r.notes),
        reasons=tuple(r.score.get("reasons") or ()),
        citations=tuple(citations),
    )


# ---------------------------------------------------------------------------------------------------------
# Rendering


def _md_cell(text: Any) -> str:
    """Text for a Markdown table cell: escaped HTML, escaped pipes, one line."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def _md_text(text: Any) -> str:
    """Free text in Markdown: HTML escaped so a renderer shows it as text."""
    return html.escape(str(text), quote=False)


def _blockquote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


@functools.cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md_cell=_md_cell, md_text=_md_text, blockquote=_blockquote)
    return env


def render_markdown(data: ReportData) -> str:
    return _templates().get_template("report.md.j2").render(report=data).rstrip() + "\n"


def render_html(data: ReportData) -> str:
    return _templates().get_template("report.html.j2").render(report=data).rstrip() + "\n"


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
    data = report_data(summary, results, calibration, baseline, gold, _plot(out, summary, results))
    (out / "report.md").write_text(render_markdown(data), encoding="utf-8")
    (out / "report.html").write_text(render_html(data), encoding="utf-8")
