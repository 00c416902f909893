"""Imported by the worker pool's fork server after archiver.jobs.preload, for a command that
extracts many pages (every one but a fetch of a few pages named on the command line: see
archiver.entry): what the extractor loads only at some pages, loaded here once for every worker.

Three such first calls are dear: the public suffix list, which trafilatura reads to name the
domain of a URL its own pattern cannot split (25 ms); dateparser, which htmldate asks for a date it
cannot read itself (0.13 s: it loads every language it knows); and the month names of all those
languages, which htmldate checks a line against when no year or English month is in it (60 ms).
Left to the workers, each paid them again, some 0.2 s of CPU per worker in `archiver fetch` over
the corpus's pages (`bench/fetch_throughput.py`), and a replaced worker once more. Here they are
paid once, and the tables they build (some 15 MB) are shared by every worker. The server then
starts its workers some 0.2 s later: a one-off fetch of a page or two leaves this out, and its
workers load what their page needs, if anything. The pages below reach each of them through the
extractor itself, as a real page does."""

from archiver.entry import loading

_TEXT = ("<p>A paragraph of a short article that exists only to exercise the extractor once, "
         "long enough to count as its text.</p>") * 3

# No structured date, a dateline only dateparser reads, at an address whose name is too short
# for trafilatura's own pattern (under four letters), so that it looks it up in the suffix list.
_FREE_TEXT_DATE = (f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Free-text date</title>
</head><body><article><h1>Free-text date</h1><p><span>November 20 15:23 2019</span></p>{_TEXT}
</article></body></html>""".encode(), "https://www.abc.example/articles/free-text-date")

# No date at all, and a line with numbers but no year or English month in it.
_MONTH_WORDS = (f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Month words</title>
</head><body><article><h1>Month words</h1><div><span>Диета (14 дней) - 10</span></div>{_TEXT}
</article></body></html>""".encode(), "https://news.example/articles/month-words")

with loading():  # as archiver.jobs.preload
    from archiver.content import extractor

    for _html, _url in (_FREE_TEXT_DATE, _MONTH_WORDS):
        try:
            extractor.extract_article(_html, _url, "text/html; charset=utf-8")
        except Exception:  # noqa: BLE001 -- only a head start: a page then loads what it needs itself,
            pass  # where an error here would stop the fork server, and with it every extraction
