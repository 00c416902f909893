"""What changed between two versions of a page, classified: pure functions of the versions and
the capture that showed them, never of the wall clock (DESIGN.md, "Changes and notifications").

One row of ``changes`` is one of three events: a new version (from version 2 on), a removal (the
page answers 404 or 410) or a restoration (it answers again after a removal). ``detect`` decides
which, if any, a capture shows, given what the page looked like before it; the archive's save path
and ``archiver changes --rebuild`` both call it, so a rebuilt table equals the one written live.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from typing import Mapping, Sequence

from archiver.content.urls import BadURL, canonical_url

KINDS = ("headline", "byline", "date", "body", "correction", "shrunk", "removed", "restored",
         "redirected", "revert")
BORING_ONLY = frozenset({"revert"})  # a revert is always boring; every other kind may notify
REMOVED_STATUSES = frozenset({404, 410})
WORD_DIFF_EXACT = 1_000_000  # words x words of a rewritten passage compared exactly
SUMMARY_QUOTE = 80  # characters of a headline, byline or correction quoted in a summary

_STATUS_WORDS = {404: "404 Not Found", 410: "410 Gone"}
_NOT_WORD = re.compile(r"[\W_]+")
_CORRECTION = re.compile(
    r"(?:^|(?<=[.!?] ))[\W_]*(?:corrections?|clarifications?|updates?|updated|editor[’']?s note)"
    r"\b[^:\n]{0,30}:"
    r"|\bthis (?:article|story|post|report|piece) (?:has been|was) (?:updated|corrected|amended|changed)"
    r"|\ban earlier version of this (?:article|story|post|report|piece)",
    re.IGNORECASE | re.MULTILINE)
_CORRECTION_HINT = re.compile(r"correct|clarif|updat|editor|earlier version", re.IGNORECASE)  # cheap first look
_MONTHS = ("january february march april may june july august september october november december "
           "jan feb mar apr jun jul aug sep sept oct nov dec")
_DATE_WORDS = frozenset((_MONTHS + " monday tuesday wednesday thursday friday saturday sunday "
                         "mon tue tues wed thu thur thurs fri sat sun last updated update published "
                         "posted modified edited revised on at a p m am pm utc gmt et est edt ct cst "
                         "cdt pt pst pdt bst cet cest msk z t ago just now today yesterday second "
                         "seconds minute minutes min mins hour hours hr hrs day days week weeks "
                         "st nd rd th of").split())
_TOKEN = re.compile(r"[^\W\d_]+|\d+")


@dataclass(frozen=True)
class Version:
    """One archived version of a page, as the classifier reads it."""

    snapshot_id: int
    version: int
    title: str | None
    author: str | None
    published: str | None
    text: str
    content_sha256: str
    final_url: str | None = None  # where the request that brought this version ended


@dataclass(frozen=True)
class Check:
    """One capture of a page: its status, where it ended, whether the page was there (an
    article, or the very bytes of the last good capture), and the new version it made, if any."""

    capture_id: int
    at: str  # the capture's start, aware UTC ISO text
    status: int | None
    final_url: str | None
    answered: bool
    new_version: Version | None = None


@dataclass(frozen=True)
class PageState:
    """A page as it stood before a capture: its latest version, whether it was removed, and the
    fingerprints of its earlier (non-latest) versions with their version numbers."""

    url: str
    latest: Version | None = None
    removed: bool = False
    earlier: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One row of ``changes``: what a capture showed, classified."""

    capture_id: int
    detected_at: str
    from_snapshot_id: int | None
    to_snapshot_id: int | None
    kinds: tuple[str, ...]
    words_added: int
    words_removed: int
    summary: str
    boring: bool


def detect(state: PageState, check: Check) -> Change | None:
    """The change ``check`` shows on a page in ``state``; None when it shows none (the first
    version, an unchanged re-check, a failure that is not a removal, a removal repeated)."""
    latest = state.latest
    if latest is None:
        return None
    if check.new_version is not None:
        return classify_edit(state, check)
    if state.removed and check.answered:
        return _event(check, latest, latest, ("restored",), f"back, answering {check.status or 'again'} "
                      f"with the version last seen (version {latest.version})")
    if not state.removed and not check.answered and check.status in REMOVED_STATUSES:
        return _event(check, latest, None, ("removed",),
                      f"now answers {_STATUS_WORDS[check.status]}; {_words(latest.text)} words "
                      f"of version {latest.version} are kept")
    return None


def advance(state: PageState, check: Check) -> PageState:
    """The page's state after ``check`` (what the next capture is compared with)."""
    if check.new_version is not None:
        return replace(adopt(state, check.new_version), removed=False)
    if check.answered:
        return replace(state, removed=False)
    if state.latest is not None and check.status in REMOVED_STATUSES:
        return replace(state, removed=True)
    return state


def adopt(state: PageState, version: Version) -> PageState:
    """The page's state once ``version`` is its latest without a change of the page itself (a
    re-extraction of a stored body by a newer extractor): later versions are compared with it."""
    earlier = dict(state.earlier)
    if state.latest is not None:
        earlier.setdefault(state.latest.content_sha256, state.latest.version)
    return PageState(state.url, version, state.removed, earlier)


def classify_edit(state: PageState, check: Check) -> Change:
    """A new version of a page (``check.new_version``) against its latest (``state.latest``)."""
    before, after = state.latest, check.new_version
    if before is None or after is None:
        raise ValueError("an edit needs the latest version and a new one")
    diff = compare_text(before.text, after.text)
    added, removed = diff.added, diff.removed
    pieces: dict[str, str] = {}
    if state.removed:
        pieces["restored"] = f"back after a removal, answering {check.status or 'again'}"
    pieces.update(_field_pieces(before, after))
    correction = added_correction(before.text, after.text)
    if correction is not None:
        pieces["correction"] = f"correction: {_quote(correction)}"
    if added or removed:  # where the text first differs, unless the correction just said it
        pieces["body"] = f"+{added} -{removed} words" + ("" if correction else f", first {diff.first}")
    if len(after.text) * 2 < len(before.text):
        pieces["shrunk"] = f"text shrank from {len(before.text)} to {len(after.text)} characters"
    target = moved_to(state.url, check.final_url, before.final_url)
    if target is not None:
        pieces["redirected"] = f"now redirects to {target}"
    if after.content_sha256 in state.earlier:
        pieces["revert"] = f"same as version {state.earlier[after.content_sha256]}"
    kinds = tuple(k for k in KINDS if k in pieces)
    return Change(check.capture_id, check.at, before.snapshot_id, after.snapshot_id, kinds, added, removed,
                  _one_line("; ".join(pieces[k] for k in _SUMMARY_ORDER if k in pieces)),
                  _boring(kinds, before, after))


def _boring(kinds: tuple[str, ...], before: Version, after: Version) -> bool:
    """A revert, or an edit of whitespace, punctuation or date lines only; never a page that
    came back or moved."""
    if {"restored", "redirected"} & set(kinds):
        return False
    return "revert" in kinds or not {"correction", "shrunk"} & set(kinds) and trivial_edit(before, after)


# the reader wants the event first, then what it changed
_SUMMARY_ORDER = ("restored", "redirected", "revert", "correction", "headline", "byline", "date",
                  "shrunk", "body")


def _field_pieces(before: Version, after: Version) -> dict[str, str]:
    """The headline, byline and date pieces of a summary, for the fields that changed."""
    pieces = {}
    for kind, name in (("headline", "title"), ("byline", "author"), ("date", "published")):
        old, new = getattr(before, name), getattr(after, name)
        if (old or "").split() != (new or "").split():
            pieces[kind] = f"{kind}: {_quote(old)} -> {_quote(new)}"
    return pieces


def _event(check: Check, before: Version, after: Version | None, kinds: tuple[str, ...],
           summary: str) -> Change:
    return Change(check.capture_id, check.at, before.snapshot_id, after.snapshot_id if after else None,
                  kinds, 0, 0, _one_line(summary), False)


# -- the pieces --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TextDiff:
    """Words added and removed from one text to the next, and the first place they differ."""

    added: int = 0
    removed: int = 0
    first: str | None = None  # e.g. 'removed "The mayor said ..."' or '"three" -> "four costly"'


def compare_text(old: str, new: str) -> TextDiff:
    """Paragraphs are matched first, then the words of the paragraphs that changed (words are
    runs of non-space characters)."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    added = removed = 0
    first = None
    for op, i1, i2, j1, j2 in SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        old_words = " ".join(old_lines[i1:i2]).split()
        new_words = " ".join(new_lines[j1:j2]).split()
        if op != "replace":
            added, removed = added + len(new_words), removed + len(old_words)
            first = first or (f"added {_quote(' '.join(new_words))}" if new_words
                              else f"removed {_quote(' '.join(old_words))}")
            continue
        # exact on ordinary edits; on a text rewritten at length, difflib's popular-word
        # heuristic keeps the writer's time to milliseconds (counts then approximate)
        rough = len(old_words) * len(new_words) > WORD_DIFF_EXACT
        for wop, a1, a2, b1, b2 in SequenceMatcher(None, old_words, new_words, autojunk=rough).get_opcodes():
            if wop != "equal":
                added, removed = added + b2 - b1, removed + a2 - a1
                first = first or _edit_piece(old_words[a1:a2], new_words[b1:b2])
    return TextDiff(added, removed, first)


def _edit_piece(old_words: list[str], new_words: list[str]) -> str:
    if not old_words:
        return f"added {_quote(' '.join(new_words))}"
    if not new_words:
        return f"removed {_quote(' '.join(old_words))}"
    return f"{_quote(' '.join(old_words))} -> {_quote(' '.join(new_words))}"


def added_correction(old: str, new: str) -> str | None:
    """The first line of ``new`` that reads as a correction or update note, when the lines it
    added have more of them than the lines it dropped (an edited paragraph that already held
    one is not a new correction)."""
    old_lines, new_lines = set(old.splitlines()), new.splitlines()
    came = [line for line in new_lines if line not in old_lines and _reads_as_correction(line)]
    kept = set(new_lines)
    went = [line for line in old_lines if line not in kept and _reads_as_correction(line)]
    return came[0] if len(came) > len(went) else None


def _reads_as_correction(line: str) -> bool:
    return _CORRECTION_HINT.search(line) is not None and _CORRECTION.search(line) is not None


def is_date_line(line: str) -> bool:
    """Whether a line says only when something was published or updated ("Last updated: 10:32
    a.m. ET, Dec. 5, 2026", "Updated 5 minutes ago")."""
    tokens = _TOKEN.findall(line.lower())
    if not tokens or len(tokens) > 16:
        return False
    timely = any(t.isdigit() for t in tokens) or {"ago", "today", "yesterday"} & set(tokens)
    return bool(timely) and all(t.isdigit() or t in _DATE_WORDS for t in tokens)


def trivial_edit(before: Version, after: Version) -> bool:
    """Whether only whitespace, punctuation or date and time lines differ."""
    for name in ("title", "author", "published"):
        if _letters(getattr(before, name)) != _letters(getattr(after, name)):
            return False
    old_lines, new_lines = before.text.splitlines(), after.text.splitlines()
    gone: list[str] = []
    came: list[str] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes():
        if op != "equal":
            gone.extend(line for line in old_lines[i1:i2] if not is_date_line(line))
            came.extend(line for line in new_lines[j1:j2] if not is_date_line(line))
    return _letters(" ".join(gone)) == _letters(" ".join(came))


def moved_to(page_url: str, final_url: str | None, previous_final_url: str | None) -> str | None:
    """The address a capture ended at, when that is another page than the page itself and than
    where its previous version came from (so a redirect is reported once, when it starts);
    scheme, ``www.`` and a trailing slash do not make another page."""
    if not final_url:
        return None
    for known in (page_url, previous_final_url):
        if known and _address(known) == _address(final_url):
            return None
    return final_url


def _address(url: str) -> tuple[str, str, str]:
    try:
        parts = canonical_url(url).split("/", 3)
    except BadURL:
        return ("", url, "")
    host = parts[2].removeprefix("www.")
    path, _, query = (parts[3] if len(parts) > 3 else "").partition("?")
    return (host, path.rstrip("/"), query)


def _letters(text: str | None) -> str:
    return _NOT_WORD.sub("", text or "")


def _words(text: str) -> int:
    return len(text.split())


def _quote(text: str | None) -> str:
    if not text:
        return "(none)"
    flat = " ".join(text.split())
    return f'"{flat if len(flat) <= SUMMARY_QUOTE else flat[:SUMMARY_QUOTE - 3] + "..."}"'


def _one_line(text: str) -> str:
    return " ".join(text.split())


def matches_kinds(kinds: Sequence[str], wanted: Sequence[str]) -> bool:
    """Whether a change of ``kinds`` is one of the ``wanted`` kinds (a notification filter)."""
    return bool(set(kinds) & set(wanted))
