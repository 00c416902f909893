"""Imported once by the worker pool's fork server: loads the extractor and the feed parser and
runs each once on small documents, so that the lazy imports and caches of their first calls are
paid once and every forked worker starts warm.

Three first uses are left to the workers, as only some pages need them: dateparser, which htmldate
asks for a date it cannot read itself (0.13 s: it loads every language it knows), the month names
of all those languages (60 ms) and the public suffix list (25 ms). Loading them here took 0.2 s
of CPU off each worker that meets such a page, but put 0.2 s more on the server's path to its
first worker, with the other core waiting, and 20-25 MB on the process tree's summed RSS; in
`bench/fetch_throughput.py` over 624 pages it gained nothing measurable."""

from archiver.entry import loading

_PAGE = b"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Warm-up article - Example News</title><meta name="author" content="A. Writer">
<meta property="article:published_time" content="2015-01-13T18:04:00+03:00">
<link rel="canonical" href="https://news.example/2015/01/13/warm-up"></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a></nav><article><h1>Warm-up article</h1>
<p class="byline">By A. Writer, January 13, 2015</p>
<p>The first paragraph of a short article that exists only to exercise the extractor once.</p>
<p>A second paragraph, long enough to count as text rather than boilerplate for the extractor.</p>
</article><footer>Copyright Example News</footer></body></html>"""

_FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Warm-up</title>
<item><title>One</title><link>https://news.example/one</link><guid>one</guid>
<pubDate>Tue, 13 Jan 2015 18:04:00 +0300</pubDate></item></channel></rss>"""

# What is loaded here lives as long as every worker: frozen (see archiver.entry.loading), the
# garbage collector does not scan it in each of them, which would touch, hence copy, the memory
# they share with this server.
with loading():
    import importlib
    from datetime import datetime

    from archiver.content import extractor, feeds

    # What runs a worker's tasks (pebble, with asyncio) and the modules of its task functions:
    # imported here once rather than by each worker as it starts, before its first page (18 ms).
    for _module in ("pebble.pool.process", "archiver.content.article", "archiver.jobs.workers"):
        importlib.import_module(_module)

    extractor.extract_article(_PAGE, "https://news.example/2015/01/13/warm-up", "text/html; charset=utf-8")
    feeds.parse_feed(_FEED, "https://news.example/rss", "application/rss+xml")
    # htmldate reads a date it finds in a page's scripts with datetime.strptime, whose module and
    # the locale's names load at its first call.
    datetime.strptime("2015-01-13", "%Y-%m-%d")
