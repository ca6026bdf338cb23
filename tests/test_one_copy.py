"""One copy of each article: the same article by two feeds, by a feed and a file, or by two URLs that
redirect to one page is stored once, its other sources recorded beside it and cited as "also in ...";
an article updated in place still replaces its passages; letting go of one source keeps the article for
the others. End to end over real HTTP (`evals.bench.feedsite`), the real embedder and a real Chroma, and
the planning rules alone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.cli import render
from assistant.settings import Settings
from evals.bench.feedsite import Item, Site, page, rss, serve, story
from ingest import ingest_paths
from ingest.articles import Article, Holder, also_in_labels
from ingest.embedding import ArchiveEmbedding
from ingest.feeds import item_origin
from ingest.passages import Passage, Split
from ingest.pipeline import article_record
from ingest.plan import ReadArticle, make_plan
from ingest.store import PassageStore
from ingest.sync import feed_state, sync_sources

from .conftest import DAY, free_port

FACT = "The harbour will reopen on 14 March with 37 berths, the port authority said on Tuesday."
TEXT = f"{FACT}\n\n{story(11)}\n\n{story(12)}"


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("ASSISTANT_FETCH_ALLOW", "127.0.0.1")
    yield from serve(free_port())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", llm_backend="extractive", feed_retries=0, fetch_allow="127.0.0.1"
    )


def two_feeds(site: Site) -> tuple[str, str, str]:
    """One item (same GUID, link, title and text) in two feeds whose channel titles differ."""
    link = site.put("/harbour.html", page("Harbour reopens", TEXT))
    item = Item("harbour-1", "Harbour reopens", link, DAY, "The harbour reopens.")
    bay = site.put("/bay.xml", rss("Bay Times", [item]), "application/rss+xml")
    coast = site.put("/coast.xml", rss("Coast Daily", [item]), "application/rss+xml")
    return bay, coast, link


def records(settings: Settings) -> list:  # type: ignore[type-arg]
    return list(PassageStore(settings).articles().values())


# --- end to end ---------------------------------------------------------------------------------------------
def test_one_item_in_two_feeds_and_a_file_is_stored_once_and_cited_as_also_in(
    site: Site, settings: Settings, embedder: ArchiveEmbedding, tmp_path: Path
) -> None:
    bay, coast, _ = two_feeds(site)
    report = sync_sources([bay, coast], settings, embedder=embedder)
    assert report.ok and report.ingest.new == 1
    assert report.ingest.duplicates == [(item_origin(coast, "harbour-1"), item_origin(bay, "harbour-1"))]
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "harbour.txt").write_text(f"Harbour reopens\n\n{TEXT}\n", encoding="utf-8")
    filed = ingest_paths([folder], settings, embedder=embedder)
    assert (filed.new, len(filed.duplicates)) == (0, 1)

    (record,) = records(settings)
    assert record.origin == item_origin(bay, "harbour-1") and record.source == "Bay Times"
    assert [h.origin for h in record.also_in] == [
        item_origin(coast, "harbour-1"),
        str((folder / "harbour.txt").resolve()),
    ]
    passages = list(PassageStore(settings).iter_passages())
    assert {also_in_labels(p.metadata) for p in passages} == {("Coast Daily", "harbour.txt")}

    bot = Assistant.from_settings(settings, embedder=embedder)
    answer = bot.ask("How many berths will the harbour have when it reopens?")
    assert not answer.refused and answer.citations
    top = PassageStore(settings).get_passages(list(answer.retrieved[:3]))
    assert len({p.text for p in top}) == len(top)  # no passage twice (the top 3 were 3 copies)
    cited = answer.citations[0]
    assert cited.source == "Bay Times" and cited.also_in == ("Coast Daily", "harbour.txt")
    assert "also in Coast Daily, harbour.txt" in render(answer)

    site.clear()  # polled again: nothing new, nothing fetched but the feeds
    again = sync_sources([bay, coast], settings, embedder=embedder)
    assert again.ok and (again.ingest.new, again.ingest.duplicates) == (0, [])
    assert again.count("not modified") == 2 and len(records(settings)) == 1
    items = feed_state(settings).items(coast)
    assert items["harbour-1"].article_id == record.article_id  # the copy is known by the kept article


def test_two_urls_that_redirect_to_one_page_are_one_article(
    site: Site, settings: Settings, embedder: ArchiveEmbedding
) -> None:
    target = site.put("/story/harbour.html", page("Harbour reopens", TEXT))
    site.put("/r/a", b"", status=302, headers={"Location": target})
    site.put("/r/b", b"", status=301, headers={"Location": target})
    one = Item("a-1", "Harbour reopens", site.url("/r/a"), DAY, "A.")
    other = Item("b-7", "The harbour opens again", site.url("/r/b"), DAY, "B.")
    a = site.put("/a.xml", rss("Alpha", [one]), "application/rss+xml")
    b = site.put("/b.xml", rss("Beta", [other]), "application/rss+xml")
    report = sync_sources([a, b], settings, embedder=embedder)
    assert report.ok and report.ingest.new == 1 and len(report.ingest.duplicates) == 1
    (record,) = records(settings)
    assert [h.label for h in record.also_in] == ["Beta"]


def test_an_article_updated_in_place_replaces_its_passages_and_keeps_its_other_sources(
    site: Site, settings: Settings, embedder
) -> None:  # type: ignore[no-untyped-def]
    bay, coast, _ = two_feeds(site)
    sync_sources([bay, coast], settings, embedder=embedder)
    (before,) = records(settings)
    old_ids = {p.passage_id for p in PassageStore(settings).iter_passages()}
    corrected = TEXT.replace("37 berths", "41 berths")
    site.put("/harbour.html", page("Harbour reopens", corrected))
    body = site.routes["/bay.xml"].body.replace(b"The harbour reopens.", b"Corrected: 41 berths.")
    site.put("/bay.xml", body, "application/rss+xml")

    report = sync_sources([bay], settings, embedder=embedder)
    assert (report.ingest.new, report.ingest.changed) == (0, 1)
    (after,) = records(settings)
    assert after.article_id == before.article_id and after.content_hash != before.content_hash
    passages = list(PassageStore(settings).iter_passages())
    assert not old_ids & {p.passage_id for p in passages}  # replaced, not added beside
    assert any("41 berths" in p.text for p in passages) and not any("37 berths" in p.text for p in passages)
    assert [h.label for h in after.also_in] == ["Coast Daily"]
    assert all(also_in_labels(p.metadata) == ("Coast Daily",) for p in passages)


def test_an_article_stays_while_another_source_holds_it(
    site: Site, settings: Settings, embedder: ArchiveEmbedding
) -> None:
    bay, coast, _ = two_feeds(site)
    sync_sources([bay, coast], settings, embedder=embedder)
    for name, title in (("bay", "Bay Times"), ("coast", "Coast Daily")):  # both feeds move on
        link = site.put(f"/{name}-2.html", page(f"{title} other news", story(40 + len(name))))
        other = Item(f"{name}-2", f"{title} other news", link, DAY, ".")
        site.put(f"/{name}.xml", rss(title, [other]), "application/rss+xml")

    first = sync_sources([bay], settings, embedder=embedder, prune=True)
    assert first.ingest.pruned == 0  # Coast Daily still carries it
    kept = next(r for r in records(settings) if "Harbour" in r.title)
    assert kept.origin == item_origin(coast, "harbour-1") and kept.also_in == ()
    assert any(FACT[:40] in p.text for p in PassageStore(settings).iter_passages())

    second = sync_sources([coast], settings, embedder=embedder, prune=True)
    assert second.ingest.pruned == 1
    assert not any("Harbour" in r.title for r in records(settings))


def test_items_sharing_a_link_or_a_short_summary_are_not_folded_together(
    site: Site, settings: Settings, embedder
) -> None:  # type: ignore[no-untyped-def]
    home = site.url("/missing-page")  # every item links to the same page, which is gone (404)
    items = [Item(f"s-{n}", f"Short story {n}", home, DAY, "Read more.") for n in range(3)]
    url = site.put("/same.xml", rss("Same Link", items), "application/rss+xml")
    report = sync_sources([url], settings, embedder=embedder)
    assert report.ingest.new == 3 and report.ingest.duplicates == []


# --- the rules alone ----------------------------------------------------------------------------------------
def one_passage(article: Article) -> Split:
    return Split([Passage.of(article, 0, 0, len(article.text))], 1)


def article(origin: str, text: str = TEXT, **kw: str) -> Article:
    return Article(title=kw.pop("title", "Harbour reopens"), text=text, origin=origin, **kw)  # type: ignore[arg-type]


def test_copies_are_found_by_text_url_and_guid_but_a_changed_article_only_by_its_text() -> None:
    kept = article("/files/a.txt", source="Files", url="https://news.example/harbour")
    ledger = {kept.article_id: article_record(kept, 1)}
    by_text = article("https://feed/x#1", text="Harbour reopens\n\n" + TEXT.upper(), source="Feed X")
    by_url = article(
        "https://feed/y#2", text="A summary.", url="https://NEWS.example:443/harbour#top", source="Feed Y"
    )
    by_guid = article("https://feed/z#g", text="Other words.", guid="tag:news,1", source="Z")
    other_guid = article("https://feed/w#g", text="Other words.", guid="tag:news,1", source="W", title="Else")
    plan = make_plan(
        [ReadArticle(a, a.origin) for a in (by_text, by_url, by_guid, other_guid)], ledger, set(), one_passage
    )
    # the GUID matched nothing archived; the second item with it and the same title would have
    assert [d[0] for d in plan.duplicates] == [by_text.origin, by_url.origin]
    assert [a.origin for a, _ in plan.write] == [by_guid.origin, other_guid.origin]
    (rehomed,) = plan.rehome
    assert rehomed.also_in == (Holder(by_text.origin, "Feed X"), Holder(by_url.origin, "Feed Y"))
    assert plan.held_by == {by_text.origin: kept.article_id, by_url.origin: kept.article_id}

    changed = article("/files/b.txt", text="Old words about the harbour.", url="https://news.example/harbour")
    ledger[changed.article_id] = article_record(changed, 1)
    edited = article("/files/b.txt", text="New words about the harbour.", url="https://news.example/harbour")
    plan = make_plan([ReadArticle(edited, edited.origin)], ledger, set(), one_passage)
    assert (plan.changed, plan.duplicates) == (1, [])  # its URL is its own, not a copy's


def test_a_record_from_before_the_copy_keys_is_matched_by_its_content_hash() -> None:
    kept = article("/files/a.txt")
    legacy = replace(article_record(kept, 1), text_key="", url_key="", guid_key="")
    same = article("/files/b.txt")
    plan = make_plan([ReadArticle(same, same.origin)], {kept.article_id: legacy}, set(), one_passage)
    assert plan.duplicates == [(same.origin, kept.origin)] and plan.write == []
