"""Tests of ingest.readers: the real seed files, every format, bad files, and property tests."""

from __future__ import annotations

import json
import re
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.articles import Article
from ingest.readers import ReadError, ReadResult, find_files, read_file, scan_paths

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
FEED = SEEDS / "004_8d23ba6792565b0d.txt"
PLAIN = SEEDS / "000_fe063259abc2a844.txt"
MAX = 10 * 1024 * 1024

FEED_TITLES = [
    "Kazakhstan to build full-cycle biopharma hub",
    "Tokayev congratulated the people of Kazakhstan on the New Year",
    "Kazakhstan builds 655 rural healthcare facilities",
    "Chairman of Asset Recovery Committee relieved of office",
    "President Tokayev visited nine regions of Kazakhstan in 2025",
    "Government reviewed preparations for the 25th Winter Olympic Games in 2026",
    "Tokayev chairs Security Council meeting on energy resilience",
    "Head of State relieves ARDFM Deputy Chairwoman Mariya Khadzhiyeva from duty",
    "Kazakhstan’s capital prepares for autonomous taxi rollout",
]


def read_all_seeds() -> list[Article]:
    articles: list[Article] = []
    for path, origin in find_files([SEEDS]):
        result = read_file(path, origin, MAX)
        assert result.problems == []
        articles.extend(result.articles)
    return articles


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def read_one(path: Path) -> Article:
    result = read_file(path, f"t/{path.name}", MAX)
    assert len(result.articles) == 1
    return result.articles[0]


# ----------------------------------------------------------------------------------------- seeds


def test_seeds_hold_ten_articles() -> None:
    assert len(read_all_seeds()) == 10


def test_feed_titles_dates_and_sources() -> None:
    articles = read_file(FEED, "seeds/004_8d23ba6792565b0d.txt", MAX).articles
    assert [a.title for a in articles] == FEED_TITLES
    by_title = {a.title: a for a in articles}
    assert by_title["Kazakhstan to build full-cycle biopharma hub"].published == "2026-01-01T16:52:00"
    assert (
        by_title["Kazakhstan’s capital prepares for autonomous taxi rollout"].published
        == "2025-12-29T14:25:00"
    )
    assert articles[0].extra["views"] == "9306"
    assert "180 permanent jobs" in articles[0].text
    assert "date 2026-01-02" not in articles[0].text
    assert [a.origin for a in articles] == [f"seeds/004_8d23ba6792565b0d.txt#{n}" for n in range(1, 10)]
    for article in articles:
        named = "Qazinform News Agency" in article.text
        assert article.source == ("Qazinform News Agency" if named else FEED.stem)
        assert "\u00a0\n" not in article.text and not article.text.endswith("\u00a0")
    assert sum(a.source == "Qazinform News Agency" for a in articles) == 8  # the Olympics piece names none


def test_feed_keeps_repeated_title_and_image_credit_in_text() -> None:
    taxi = read_file(FEED, "seeds/f.txt", MAX).articles[8]
    assert taxi.text.startswith(f"{taxi.title}\nImages | Depositphotos\nA memorandum")
    assert taxi.extra["images"] == "Depositphotos"


def test_plain_seed_article() -> None:
    article = read_one(PLAIN)
    assert article.title.startswith("Prime Minister Olzhas Bektenov reviewed")
    assert article.title.endswith("…")
    assert len(article.title) <= 90 and len(article.title.split()) <= 12
    assert article.source == "Primeminister.kz"
    assert "Source: Primeminister.kz" not in article.text
    assert article.text.startswith("Prime Minister Olzhas Bektenov reviewed the work")
    assert article.text.endswith("domestic innovations.")


def test_article_ids_stable_and_unique() -> None:
    first = [a.article_id for a in read_all_seeds()]
    second = [a.article_id for a in read_all_seeds()]
    assert first == second
    assert len(set(first)) == len(first)


# ----------------------------------------------------------------------------------------- files


def test_find_files_same_origin_for_folder_and_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from_folder = dict(find_files([SEEDS]))
    from_file = find_files([FEED])
    assert from_file == [(FEED, FEED.resolve().as_posix())]
    assert from_folder[FEED] == FEED.resolve().as_posix()
    monkeypatch.chdir(SEEDS)  # a relative spelling of the same file is the same article
    assert find_files([Path(FEED.name)]) == [(Path(FEED.name), FEED.resolve().as_posix())]


def test_find_files_origins_tell_same_names_in_same_named_folders_apart(tmp_path: Path) -> None:
    first = write(tmp_path, "2023/news/budget.txt", "x")
    second = write(tmp_path, "2024/news/budget.txt", "x")
    found = scan_paths([first.parent, second.parent])
    assert [f.origin for f in found] == [first.resolve().as_posix(), second.resolve().as_posix()]
    assert [f.legacy_origin for f in found] == [
        "news/budget.txt",
        "news/budget.txt",
    ]  # the old, ambiguous ids


def test_find_files_skips_hidden_and_unsupported(tmp_path: Path) -> None:
    root = tmp_path / "news"
    for name in ["b.md", "a.txt", ".hidden.txt", "notes.pdf", "sub/c.jsonl", ".git/d.txt", "sub/e.HTML"]:
        write(root, name, "x")
    found = find_files([root])
    assert [origin for _, origin in found] == [
        f"{root.resolve().as_posix()}/{name}" for name in ["a.txt", "b.md", "sub/c.jsonl", "sub/e.HTML"]
    ]
    assert find_files([root / "sub" / "c.jsonl", root])[0] == (
        root / "sub" / "c.jsonl",
        (root / "sub" / "c.jsonl").resolve().as_posix(),
    )
    assert len(find_files([root, root / "a.txt"])) == 4  # a file reached twice is listed once
    assert find_files([root / "notes.pdf"]) == []


def test_find_files_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="no such file"):
        find_files([tmp_path / "nope"])


# --------------------------------------------------------------------------------------- formats


def test_markdown_with_heading_and_metadata(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.md",
        "# Big news today\n\nsource: Daily Planet\nPublished: 2026-01-01 16:52\nURL: https://x.test/a\n\n"
        "First paragraph.\n\nSecond paragraph.\n",
    )
    article = read_one(path)
    assert article.title == "Big news today"
    assert article.source == "Daily Planet"
    assert article.url == "https://x.test/a"
    assert article.published == "2026-01-01T16:52:00"
    assert article.text == "First paragraph.\n\nSecond paragraph."
    assert article.origin == "t/a.md"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("2026-01-01", "2026-01-01T00:00:00"), ("2026-01-01T16:52", "2026-01-01T16:52:00"), ("soon", None)],
)
def test_markdown_published_forms(tmp_path: Path, raw: str, expected: str | None) -> None:
    article = read_one(write(tmp_path, "a.md", f"# T\nPublished: {raw}\n\nBody.\n"))
    assert article.published == expected
    assert article.extra.get("published_raw") == (None if expected else raw)


def test_markdown_without_heading(tmp_path: Path) -> None:
    article = read_one(write(tmp_path, "b.markdown", "The council met on Monday. It agreed a budget.\n"))
    assert article.title == "The council met on Monday."
    assert article.text == "The council met on Monday. It agreed a budget."


def test_plain_txt_with_title_line_and_trailers(tmp_path: Path) -> None:
    text = (
        "Rates held steady\r\n\r\nURL: https://x.test/r\r\n\r\n"
        "The bank kept rates.\r\nMore text.\r\n\r\nSource: Bank\r\n"
    )
    article = read_one(write(tmp_path, "r.txt", "\ufeff" + text))
    assert article.title == "Rates held steady"
    assert (article.url, article.source) == ("https://x.test/r", "Bank")
    assert article.text == "The bank kept rates.\nMore text."


@pytest.mark.parametrize(
    "content",
    [
        "Budget approved\nPublished: 2025-04-08\n\nThe council approved the budget.\n",
        "Budget approved\nPublished: 2025-04-08\nThe council approved the budget.\n",
        "Budget approved\nSource: City Wire\nPublished: 2025-04-08\n\nThe council approved the budget.\n",
    ],
)
@pytest.mark.parametrize("name", ["a.txt", "a.md"])
def test_title_line_directly_followed_by_metadata(tmp_path: Path, content: str, name: str) -> None:
    article = read_one(write(tmp_path, name, content))
    assert article.title == "Budget approved"
    assert article.published == "2025-04-08T00:00:00"
    assert article.text == "The council approved the budget."
    assert article.source == ("City Wire" if "Source" in content else "")


def test_first_line_followed_by_text_is_not_taken_for_a_title(tmp_path: Path) -> None:
    article = read_one(write(tmp_path, "a.txt", "Budget approved\nThe council approved it on Monday.\n"))
    assert article.title == "Budget approved The council approved it on Monday."
    assert article.text == "Budget approved\nThe council approved it on Monday."


def test_html(tmp_path: Path) -> None:
    html = """<!doctype html><html><head><title>Page title</title>
    <style>body { color: red }</style><script>alert(1)</script></head><body>
    <nav><a href="/">Home</a> <a href="/world">World</a></nav>
    <article><h1>Rivers rise after storm</h1>
    <p>Heavy rain overnight pushed rivers in the north above their banks, officials said on Tuesday.</p>
    <p>Emergency crews evacuated two villages and opened shelters in the regional capital.</p>
    </article><script>console.log("tracking")</script></body></html>"""
    article = read_one(write(tmp_path, "p.html", html))
    assert "Heavy rain overnight pushed rivers" in article.text
    assert "Emergency crews evacuated two villages" in article.text
    assert "alert" not in article.text and "tracking" not in article.text and "color" not in article.text
    assert article.title in ("Rivers rise after storm", "Page title")


def test_html_without_text(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="no article text found in the HTML"):
        read_file(write(tmp_path, "e.htm", "<html><head><script>alert(1)</script></head></html>"), "t/e", MAX)


def test_jsonl_good_and_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"title": "T1", "text": "Body one.", "id": "a1", "published": "2026-01-01", "url": "u"}),
        "",
        "{not json",
        json.dumps({"title": "T3"}),
        json.dumps({"title": "T4", "text": "Body four."}),
    ]
    result = read_file(write(tmp_path, "r.jsonl", "\n".join(lines) + "\n"), "t/r.jsonl", MAX)
    assert isinstance(result, ReadResult)
    assert [a.origin for a in result.articles] == ["t/r.jsonl#a1", "t/r.jsonl#L5"]
    assert result.articles[0].published == "2026-01-01T00:00:00"
    assert result.articles[0].url == "u"
    assert len(result.problems) == 2
    assert result.problems[0].startswith("line 3:") and result.problems[1].startswith("line 4:")


@pytest.mark.parametrize("key", ["title", "text", "published", "source", "url", "id"])
def test_jsonl_lone_surrogate_fails_its_line_only(tmp_path: Path, key: str) -> None:
    bad = {"title": "Bad", "text": "Broken record.", key: "half an emoji \ud83d here"}
    lines = [json.dumps(bad), json.dumps({"title": "Good 😀", "text": "Pairs are fine: \U0001f600."})]
    assert "\\ud83d" in lines[0]  # the JSON escape, as a feed writes it
    result = read_file(write(tmp_path, "s.jsonl", "\n".join(lines) + "\n"), "t/s.jsonl", MAX)
    assert [a.title for a in result.articles] == ["Good 😀"]
    [problem] = result.problems
    assert problem.startswith("line 1:") and "surrogate" in problem and repr(key) in problem


@pytest.mark.parametrize("ref", ["&#xD800;", "&#55296;", "&#xDFFF;"])
def test_html_surrogate_character_reference_gives_valid_text(tmp_path: Path, ref: str) -> None:
    html = f"<html><body><article><h1>Odd {ref} title</h1><p>A paragraph {ref} with a bad reference, long "
    html += "enough for the extractor to keep it as the main text of this page.</p></article></body></html>"
    try:
        article = read_one(write(tmp_path, "s.html", html))
    except ReadError as exc:
        assert "surrogate" in str(exc)
        return
    for value in (article.title, article.text, article.source, article.url, article.origin):
        value.encode("utf-8")  # storable: no lone surrogate survives


def test_jsonl_all_bad(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.jsonl", '{"title": "x"}\n[1, 2]\nnope\n')
    with pytest.raises(ReadError, match="no article found"):
        read_file(path, "t/bad.jsonl", MAX)


# ------------------------------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b" \n\t\n\xc2\xa0\n", "whitespace"),
        ("bin.txt", b"abc\x00\x01\x02def", "binary"),
        ("ctl.jsonl", bytes(range(1, 9)) * 20, "binary"),
        ("latin.txt", "Café crème".encode("latin-1"), "not valid UTF-8"),
        ("utf16.md", "# Hi\n\nThere".encode("utf-16"), "UTF-16"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    with pytest.raises(ReadError, match=reason):
        read_file(write(tmp_path, name, content), f"t/{name}", MAX)


def test_oversized_file(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="too large"):
        read_file(write(tmp_path, "big.txt", "word " * 100), "t/big.txt", 50)


def test_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="unsupported"):
        read_file(write(tmp_path, "x.pdf", "text"), "t/x.pdf", MAX)


# ---------------------------------------------------------------------------------------- properties

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# One-line printable text: no control characters (so no line breaks), no surrogates.
_LINE_CHARS = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
_HEADER_LIKE = re.compile(r"^\s*(date\s+\S+\s+)?\d{2}\.\d{2}\.\d{4},")
_line = (
    st.text(_LINE_CHARS, min_size=1, max_size=60)
    .map(str.strip)
    .filter(lambda s: bool(s) and not _HEADER_LIKE.match(s))
)


@st.composite
def feed_entries(draw: st.DrawFn) -> list[tuple[datetime, int, str, list[str]]]:
    count = draw(st.integers(1, 5))
    return [
        (
            draw(
                st.datetimes(datetime(1990, 1, 1), datetime(2099, 12, 31)).map(lambda d: d.replace(second=0))
            ),
            draw(st.integers(0, 10**7)),
            draw(_line),
            draw(st.lists(_line, min_size=1, max_size=4)),
        )
        for _ in range(count)
    ]


def render_feed(entries: list[tuple[datetime, int, str, list[str]]]) -> str:
    parts = []
    for index, (moment, views, title, paragraphs) in enumerate(entries):
        prefix = " date 2026-01-02 " if index == 0 else ""
        body = "\n\n".join(paragraphs)
        parts.append(f"{prefix}{moment:%d.%m.%Y, %H:%M} {views}\n\n{title}\n\n{body}\n\u00a0 \n\n")
    return "".join(parts)


@PROPS
@given(entries=feed_entries())
def test_property_feed_round_trip(entries: list[tuple[datetime, int, str, list[str]]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder), "feed.txt", render_feed(entries))
        result = read_file(path, "f/feed.txt", MAX)
    assert result.problems == []
    assert len(result.articles) == len(entries)
    for n, (article, (moment, views, title, paragraphs)) in enumerate(
        zip(result.articles, entries, strict=True), start=1
    ):
        assert article.title == title
        assert article.published == moment.strftime("%Y-%m-%dT%H:%M:00")
        assert article.text == "\n\n".join(paragraphs)
        assert article.extra["views"] == str(views)
        assert article.origin == f"f/feed.txt#{n}"


_word = st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=12)


@PROPS
@given(
    title=st.lists(_word, min_size=1, max_size=8).map(" ".join),
    paragraphs=st.lists(st.lists(_word, min_size=1, max_size=20).map(" ".join), min_size=1, max_size=5),
    source=st.one_of(st.none(), st.lists(_word, min_size=1, max_size=3).map(" ".join)),
)
def test_property_markdown_keeps_body_words(title: str, paragraphs: list[str], source: str | None) -> None:
    meta = f"Source: {source}\n" if source else ""
    content = f"# {title}\n{meta}\n" + "\n\n".join(paragraphs) + "\n"
    with tempfile.TemporaryDirectory() as folder:
        article = read_one(write(Path(folder), "a.md", content))
    assert article.title == title
    assert article.source == (source or "")
    words = set(article.text.split())
    assert all(word in words for paragraph in paragraphs for word in paragraph.split())


_any_content = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=2000).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.lists(_line, max_size=20).map(lambda lines: "\n".join(lines).encode("utf-8")),
)


@PROPS
@given(content=_any_content, suffix=st.sampled_from([".txt", ".md", ".jsonl", ".html"]))
def test_property_only_read_errors(content: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder), f"x{suffix}", content)
        try:
            result = read_file(path, f"t/x{suffix}", MAX)
        except ReadError as exc:
            assert str(exc)
            return
    assert result.articles
    for article in result.articles:
        assert article.title.strip() and article.text.strip()
