"""The trafilatura release that archiver's extractor is written and checked against.

archiver.content.speedups and archiver.content.extractor replace and restate parts of
trafilatura: its XPath expressions, steps of its pipeline, its author and category searches.
Each is checked against this release: the tests pin the sources they restate, and the articles
of the 391 corpus pages were compared one by one. Another release may not have those parts
(2.2.0 has no ``trafilatura.core._extract_and_compare``, and the extractor then fails at import)
or may change what they do, and with it the text archived for a page that did not change. So
pyproject.toml pins this release, and the commands that extract stop at start with one line
that says how to install it, rather than fail on every page or archive different text.

Importing this module does not import trafilatura: ``archiver.entry`` asks before it loads
anything else.
"""

from __future__ import annotations

TRAFILATURA = "2.3.1"


def trafilatura_mismatch(installed: str | None) -> str | None:
    """A one-line error if ``installed`` (trafilatura's version, None if it is missing) is not
    TRAFILATURA, else None."""
    if installed == TRAFILATURA:
        return None
    found = f"trafilatura {installed} is installed" if installed else "trafilatura is not installed"
    return (f"archiver's extractor is checked against trafilatura {TRAFILATURA} and {found}; "
            f"install that release: pip install 'trafilatura=={TRAFILATURA}'")


def installed_trafilatura() -> str | None:
    """The version the trafilatura that ``import trafilatura`` would load declares (its
    ``__version__``, which archiver.content.speedups checks too), read from its source without
    importing it: importing it takes a tenth of a second, and importlib.metadata 30 ms, at the
    start of every command that extracts. None if it is not installed."""
    import re
    from importlib.util import find_spec

    spec = find_spec("trafilatura")
    if spec is None or not spec.origin:
        return None
    try:
        with open(spec.origin, encoding="utf-8", errors="replace") as source:
            declared = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", source.read(), re.MULTILINE)
    except OSError:
        declared = None
    if declared is None:  # written some other way: ask the package's metadata
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("trafilatura")
        except PackageNotFoundError:
            return None
    return declared.group(1)
