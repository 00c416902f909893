"""trafilatura and htmldate, made cheaper without changing what they return.

archiver.content.extractor imports this module before it runs either of them. Each change
below replaces a piece of trafilatura or htmldate in place, in their own modules, for every
caller in the process, with a stand-in that gives the same result for less CPU:

    XPath expressions       native string tests for re:test(), descendant:: steps for //, names
                            in steps for name tests (archiver.content.xpathregex, xpathaxes)
    _prepare_tree           no backup copy of the cleaned tree where nothing reads it
    extract_content         no copy of the cleaned tree before the main pass where its recovery
                            does not run (where it does, the page is prepared again)
    html2txt                the page's whole text only where its length can decide a retry
    load_html               a tree parsed already, taken as it is rather than copied
    the parser's classes    one element class, not lxml.html's lookup by tag
    INVALID_XML_CHARS       a search for each character before the pattern's scan
    BASIC_CLEAN_XPATH       the cookie-consent pattern run once per distinct class and id
    prunes and discards     one walk of the named elements, and Python's re on their own
                            attributes (OwnAttributeWalk): the raw page's infinite-scroll articles,
                            share buttons and comment sections; the article's navigation, ads,
                            hidden elements and replies; the article's container, found by the
                            first of trafilatura's expressions, with the walk stopped at it
    extract_license         nothing: the archive keeps no license

Each is tested against trafilatura's own on the corpus, and where it restates trafilatura's
code, the tests pin that code's source, so that an upgrade that changes it fails a test rather
than changing the archive's text.
"""

from __future__ import annotations

import re
import sys
import threading
from typing import Any

import trafilatura
import trafilatura.core
import trafilatura.main_extractor
import trafilatura.metadata
import trafilatura.settings
import trafilatura.utils
import trafilatura.xpaths
from lxml.etree import Element, ElementDefaultClassLookup, XPath
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HtmlProcessingInstruction

from archiver.content.engine import trafilatura_mismatch
from archiver.content.xpathaxes import rewrite_descendant_steps, rewrite_name_alternations
from archiver.content.xpathregex import rewrite_xpath

# What follows replaces parts of one release of trafilatura, and of no other (archiver.content.engine).
if (_MISMATCH := trafilatura_mismatch(trafilatura.__version__)) is not None:
    raise ImportError(_MISMATCH)

REGEXP_NS = "http://exslt.org/regular-expressions"
PRISTINE_SOURCES: dict[XPath, str] = {}  # each expression _faster_xpaths gave a module: its source as written


def native_source(source: str) -> tuple[str, bool]:
    """An XPath expression with the rewrites of _faster_xpaths (the same nodes, selected faster),
    and whether any applied. (A re:test kept as it is is guarded all the same, and comes out
    guarded twice if rewritten twice: an expression no rule changed is left as it was.)"""
    source, replaced, _ = rewrite_xpath(source)
    source, stepped = rewrite_descendant_steps(source)
    source, named = rewrite_name_alternations(source)
    return source, bool(replaced or stepped or named)


def native_xpath(source: str) -> XPath:
    """An expression of archiver's own, compiled with the rewrites of _faster_xpaths."""
    return XPath(native_source(source)[0], namespaces={"re": REGEXP_NS})


def _faster_xpaths() -> None:
    """Give trafilatura's and htmldate's XPath expressions native string tests in place of
    ``re:test()`` calls (see archiver.content.xpathregex), ``descendant::`` steps in place of
    ``//`` and names in steps in place of name tests in predicates (see
    archiver.content.xpathaxes): the same elements, selected without calling back into Python
    for each one, in one walk of the tree for each name."""
    rewritten: dict[str, XPath] = {}

    def native(xpath: XPath) -> XPath:
        source = xpath.path
        if source not in rewritten:
            new_source, changed = native_source(source)
            rewritten[source] = XPath(new_source, namespaces={"re": REGEXP_NS}) if changed else xpath
            PRISTINE_SOURCES.setdefault(rewritten[source], source)  # a list two modules share comes twice
        return rewritten[source]

    modules = [m for name, m in sys.modules.items()
               if name.partition(".")[0] in ("trafilatura", "htmldate")]
    for module in modules:
        for name, value in list(vars(module).items()):
            if isinstance(value, XPath):
                setattr(module, name, native(value))
            elif isinstance(value, list) and value and all(isinstance(v, XPath) for v in value):
                value[:] = [native(v) for v in value]  # in place: every importer holds this list


_faster_xpaths()

_prepare_tree = trafilatura.core._prepare_tree


def _prepare_tree_without_backup(tree: HtmlElement, options: Any, url: str | None) -> tuple[HtmlElement, Any]:
    """``trafilatura.core._prepare_tree`` without its copy of the cleaned tree when nothing can
    read it: only the fallback comparison (not run with ``fast``) and comment extraction (off)
    do. One copy of the page less a page: 0.3 to 0.5 ms."""
    if not options.fast or options.comments:
        return _prepare_tree(tree, options, url)
    cleaned = _cleaned(tree, options, url)
    _PREPARED.raw, _PREPARED.options, _PREPARED.url, _PREPARED.cleaned = tree, options, url, cleaned
    return cleaned, None


def _cleaned(tree: HtmlElement, options: Any, url: str | None) -> HtmlElement:
    """The cleaned and converted copy of the raw ``tree`` that _prepare_tree makes."""
    core = trafilatura.core
    return core.convert_tags(core.tree_cleaning(core.copy(tree), options), options, url)


class _Prepared(threading.local):
    """What _prepare_tree_without_backup last prepared (``cleaned``), and from what."""

    raw: Any = None
    options: Any = None
    url: str | None = None
    cleaned: Any = None


_PREPARED = _Prepared()
_extract_content = trafilatura.core.extract_content


def _forget_prepared() -> tuple[Any, Any, str | None, Any]:
    """(cleaned, raw, url, options) of what was last prepared; none of it is kept past the page."""
    kept = (_PREPARED.cleaned, _PREPARED.raw, _PREPARED.url, _PREPARED.options)
    _PREPARED.cleaned = _PREPARED.raw = _PREPARED.url = _PREPARED.options = None
    return kept


def _extract_content_without_backup(cleaned_tree: HtmlElement, options: Any) -> tuple[Any, str]:
    """``trafilatura.main_extractor.extract_content`` without its copy of the cleaned tree (a
    deep copy, and a list of the tree's elements in source order: 0.28 ms a page), which only its
    recovery of wild text reads, where the main pass finds too little (49 of 426 calls on the
    corpus). The main pass runs on the tree itself. Where it finds too little, the page is
    prepared again from the raw tree (tree_cleaning and convert_tags depend on it, the options
    and the URL alone, and nothing has changed it since) and trafilatura's own extract_content
    runs on that, copy and all: 0.08 ms a page, so 0.17 ms a page less in all. Anything this was
    not given straight from _prepare_tree_without_backup goes to trafilatura's own at once."""
    prepared, raw, url, prepared_with = _forget_prepared()
    if prepared is not cleaned_tree or options is not prepared_with or options.focus == "precision":
        return _extract_content(cleaned_tree, options)  # precision prunes the prepared tree further
    main = trafilatura.main_extractor
    result_body, temp_text, _ = main._extract(cleaned_tree, options)
    if len(result_body) == 0 or len(temp_text) < options.min_extracted_size:
        return _extract_content(_cleaned(raw, options, url), options)
    # the rest of extract_content as trafilatura 2.3.1 writes it (tests pin its source)
    previous = None
    for el in list(result_body):
        current = main._elem_text(el)
        if current and current == previous and len(current) > main.MIN_DUPLICATE_LENGTH:
            main.delete_element(el, keep_tail=False)
        else:
            previous = current
    main.strip_elements(result_body, "done")
    main.strip_tags(result_body, "div")
    for linebreak in result_body.iter("lb"):
        if (
            linebreak.tail
            and not main.text_chars_test(linebreak.tail)
            and not any(anc.tag in main.SPACING_PROTECTED for anc in linebreak.iterancestors())
        ):
            linebreak.tail = None
    return result_body, temp_text


trafilatura.core._prepare_tree = _prepare_tree_without_backup
trafilatura.core.extract_content = _extract_content_without_backup

# trafilatura_sequence retries a short extraction in recall mode when it covers under a fifth of
# the page's text: ``len(temp_text) < ESCALATION_PAGE_SHARE * len(html2txt(tree))``, where
# ``html2txt`` copies the page, deletes scripts, footers and cookie banners from the copy (see
# CookieConsentOnce) and spaces its blocks: 2 to 3 ms. Only the length is compared, and
# page_text_bound bounds it. Where that bound already makes the extraction long enough, the
# retry cannot happen, and the page's text is not made. The extraction's length is taken from
# _extract_and_compare, which trafilatura_sequence calls just before; a baseline rescue in
# between only makes the extraction longer.
_extract_and_compare = trafilatura.core._extract_and_compare
_html2txt = trafilatura.core.html2txt
_BLOCK_ELEMENTS = tuple(sys.modules["trafilatura.baseline"]._BLOCK_ELEMS)  # the package exports a function named baseline


class _Extraction(threading.local):
    length: int | None = None


_LAST_EXTRACTION = _Extraction()


def _extract_and_compare_noting_length(*args: Any) -> tuple[Any, str]:
    postbody, text = _extract_and_compare(*args)
    _LAST_EXTRACTION.length = len(text)
    return postbody, text


def page_text_bound(tree: HtmlElement) -> int:
    """At least ``len(html2txt(tree))``: the text of the page's body without that of its scripts
    and style sheets, with two spaces for each block element. html2txt deletes every script and
    style element (and more), spaces blocks and squashes whitespace; it never adds text."""
    body = tree.find(".//body")
    if body is None:
        body = tree
    scripts = sum(len(element.text or "") for element in body.iter("script", "style"))
    return len(body.text_content()) - scripts + 2 * sum(1 for _ in body.iter(*_BLOCK_ELEMENTS))


def _page_text_where_it_can_matter(tree: Any, clean: bool = True) -> str:
    """``html2txt`` for trafilatura_sequence's retry decision; "" where its length cannot bring
    the retry about (the extraction is at least a fifth of ``page_text_bound``)."""
    length, _LAST_EXTRACTION.length = _LAST_EXTRACTION.length, None
    share = trafilatura.core.ESCALATION_PAGE_SHARE
    if length is not None and clean and isinstance(tree, HtmlElement) and length >= share * page_text_bound(tree):
        return ""
    return _html2txt(tree, clean)


trafilatura.core._extract_and_compare = _extract_and_compare_noting_length
trafilatura.core.html2txt = _page_text_where_it_can_matter


class InPlace:
    """A parsed page that trafilatura.bare_extraction works on as it is: it copies a tree it is
    given (0.5 ms a page), and takes one it parsed itself as it is, so its ``load_html`` is
    given this in place of a tree, and returns the tree."""

    def __init__(self, tree: HtmlElement):
        self.tree = tree


_load_html = trafilatura.core.load_html


def _load_html_in_place(htmlobject: Any, max_size: int | None = None) -> HtmlElement | None:
    return htmlobject.tree if isinstance(htmlobject, InPlace) else _load_html(htmlobject, max_size)


trafilatura.core.load_html = _load_html_in_place

# Every element of a page is made an HtmlElement. lxml.html's own lookup picks a form, input,
# select, textarea or label class by tag, with a call into Python each time Python touches an
# element (some 2,400 times a page); neither trafilatura nor archiver uses those classes.
HTML_CLASSES = ElementDefaultClassLookup(element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction,
                                         entity=HtmlEntity)
trafilatura.utils.HTML_PARSER.set_element_class_lookup(HTML_CLASSES)


class XmlRefusedChars:
    """Stands in for ``trafilatura.utils.INVALID_XML_CHARS``, the characters XML refuses, which
    trafilatura deletes from every page before parsing. A page rarely holds any: one search for
    each of them (``in``, at memchr speed) takes 0.2 ms a page where the pattern's scan takes 0.55
    ms, and only a page that holds one goes through the pattern."""

    SOURCE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"
    CHARS = tuple(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF))

    def __init__(self, compiled: re.Pattern[str]):
        self.compiled = compiled

    def sub(self, repl: str, string: str, count: int = 0) -> str:
        if any(char in string for char in self.CHARS):
            return self.compiled.sub(repl, string, count)
        return string

    def __getattr__(self, name: str) -> Any:  # everything else as the pattern has it
        return getattr(self.compiled, name)


if trafilatura.utils.INVALID_XML_CHARS.pattern == XmlRefusedChars.SOURCE:  # else left as trafilatura has it
    trafilatura.utils.INVALID_XML_CHARS = XmlRefusedChars(trafilatura.utils.INVALID_XML_CHARS)

class CookieConsentOnce:
    """Stands in for trafilatura's ``BASIC_CLEAN_XPATH``: what html2txt (trafilatura's measure of
    the page's text, see _page_text_where_it_can_matter) and its baseline delete. That is asides,
    footers, scripts and the like, and every element whose class or id matches a pattern of
    cookie-consent names, case-insensitively, which lxml tests with a call into Python for each
    element that has a class or an id: 2.2 of the expression's 2.5 ms a page. Here the page's
    distinct class and id values are read at once (0.8 ms) and the pattern run once on each,
    as lxml's ``re:test`` runs it (``re.search``, ``re.IGNORECASE``); where none matches (359 of
    the 391 corpus pages) that part of the expression selects nothing, and only the rest runs:
    1.6 ms a page in all, where the expression took 2.4."""

    def __init__(self, whole: XPath, rest: str, pattern: str):
        self.whole, self.path = whole, whole.path
        self.rest = native_xpath(rest)
        self.pattern = re.compile(pattern, re.IGNORECASE)

    def __call__(self, tree: HtmlElement) -> list[HtmlElement]:
        if any(self.pattern.search(value) for value in set(_CLASSES_AND_IDS(tree))):
            return self.whole(tree)
        return self.rest(tree)

    @classmethod
    def standing_in(cls, whole: XPath) -> XPath | CookieConsentOnce:
        """The stand-in for ``whole``, or ``whole`` itself if it is not the expression this stands for."""
        pattern = getattr(trafilatura.settings, "_COOKIE_CONSENT_RE", None)
        rest, cut, tail = PRISTINE_SOURCES.get(whole, whole.path).rpartition("|.//*[re:test(")
        if not pattern or not cut or tail != f"@class, '{pattern}', 'i') or re:test(@id, '{pattern}', 'i')]":
            return whole
        return cls(whole, rest, pattern)


_CLASSES_AND_IDS = XPath("descendant::*/@class | descendant::*/@id")
trafilatura.settings.BASIC_CLEAN_XPATH = sys.modules["trafilatura.baseline"].BASIC_CLEAN_XPATH = (
    CookieConsentOnce.standing_in(trafilatura.settings.BASIC_CLEAN_XPATH))


class OwnAttributeWalk:
    """Stands in for an expression that selects, among the descendants of the context (with some
    names), those whose own attributes pass a test (and, for one, whether they hold an <h1>).
    trafilatura runs such expressions on every page: two prunes of the raw page before anything
    else (the appended articles of infinite-scroll themes and Elementor's share buttons; then
    reader comments), and its two discard expressions on the part of the page it takes for the
    article (navigation, sharing, ads and the like by id and class; hidden elements and replies).
    After the rewrites above lxml walks the tree once for each name and tests each attribute with
    libxml2's string functions, some twenty to seventy calls an element; here lxml walks it once,
    and Python's ``re`` and ``in`` test the attributes. A ``re:test`` is ``re.search`` on the
    attribute's value, as lxml runs it; on an absent attribute it tests the empty string, which
    none of these patterns matches. ``re:test(@id|@class, ...)`` and ``starts-with(@id|@class,
    ...)`` test the first of the two attributes in the element's order (XPath's string value of
    a node-set is its first node's). In a pass over the corpus: 0.69 against 0.48 ms a page for
    the raw-page prunes, and about half the time of the discard expressions.

    Each stands in only for the expression it restates, written as trafilatura 2.3.1 writes it
    (``SOURCE``, white space squashed); any other is left as it is. Each ``SOURCE`` is written
    with the patterns the stand-in compiles, so a match also says they are trafilatura's."""

    SOURCE = ""
    TAGS: tuple[str, ...] = ()

    def __init__(self, whole: XPath):
        self.whole, self.path = whole, whole.path

    def __call__(self, tree: HtmlElement) -> list[HtmlElement]:
        return [element for element in tree.iterdescendants(*self.TAGS)
                if self.selects(element, element.get("id"), element.get("class"))]

    def selects(self, element: HtmlElement, id_: str | None, class_: str | None) -> bool:
        raise NotImplementedError

    @classmethod
    def standing_in(cls, whole: Any) -> Any:
        """The stand-in for ``whole``, or ``whole`` itself if no stand-in restates it."""
        for kind in cls.__subclasses__():
            if isinstance(whole, XPath) and " ".join(PRISTINE_SOURCES.get(whole, whole.path).split()) == kind.SOURCE:
                return kind(whole)
        return whole


def _search(pattern: re.Pattern[str], value: str | None) -> bool:
    return value is not None and pattern.search(value) is not None


class AppendedArticles(OwnAttributeWalk):
    _THEME_PATTERN = "mvp-post-add-(?:box|wrap)"
    _CONTAINER_PATTERN = f"{_THEME_PATTERN}|infinite-?scroll"
    SOURCE = (".//*[self::div or self::section or self::aside][ "
              f"re:test(@id, '{_CONTAINER_PATTERN}') or re:test(@class, '{_CONTAINER_PATTERN}')][ "
              f"not(.//h1) or re:test(@id, '{_THEME_PATTERN}') or re:test(@class, '{_THEME_PATTERN}')]")
    TAGS = ("div", "section", "aside")
    _CONTAINER, _THEME = re.compile(_CONTAINER_PATTERN), re.compile(_THEME_PATTERN)

    def selects(self, element: HtmlElement, id_: str | None, class_: str | None) -> bool:
        if not (_search(self._CONTAINER, id_) or _search(self._CONTAINER, class_)):
            return False
        return (next(element.iterdescendants("h1"), None) is None
                or _search(self._THEME, id_) or _search(self._THEME, class_))


class ShareButtons(OwnAttributeWalk):
    SOURCE = ".//*[self::div or self::section or self::aside][contains(@class, 'elementor-share-buttons')]"
    TAGS = ("div", "section", "aside")

    def selects(self, element: HtmlElement, id_: str | None, class_: str | None) -> bool:
        return class_ is not None and "elementor-share-buttons" in class_


class CommentSections(OwnAttributeWalk):
    _ID_PATTERN = "^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)"
    _LIST_ID_PATTERN = "^(?:[Cc]omment(?!ary)|comol)"
    _CLASS_PATTERN = "^[Cc]omment(?!ary)|(?:article|post)-comments"
    SOURCE = (".//*[self::div or self::list or self::section or self::details or self::ol or self::ul][ "
              f"re:test(@id, '{_ID_PATTERN}') or re:test(@class, '{_CLASS_PATTERN}')][ "
              f"not(self::ol or self::ul) or re:test(@id, '{_LIST_ID_PATTERN}') or "
              f"re:test(@class, '{_CLASS_PATTERN}')]")
    TAGS = ("div", "list", "section", "details", "ol", "ul")
    _ID, _LIST_ID, _CLASS = re.compile(_ID_PATTERN), re.compile(_LIST_ID_PATTERN), re.compile(_CLASS_PATTERN)

    def selects(self, element: HtmlElement, id_: str | None, class_: str | None) -> bool:
        by_class = _search(self._CLASS, class_)
        if not (by_class or _search(self._ID, id_)):
            return False
        return by_class or element.tag not in ("ol", "ul") or _search(self._LIST_ID, id_)


def _first_is(element: HtmlElement, name: str, other: str) -> bool:
    """Whether the element's attribute ``name`` comes before its attribute ``other``, if it has it."""
    for key in element.keys():
        if key == name or key == other:
            return key == name
    return False


_DISCARD_ID = ("^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author|"
               "^(?:jp-|dpsp-content)|bmdh|footer|Footer|share|Share|nav|Nav|menu|related|message-container|"
               "premium|^ad-")
_DISCARD_CLASS = ("^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author|"
                  "^(?:nav|post-nav|ZendeskForm)|subnav|avigation|navbar|navbox|menu|bar| ad |-ad-|(?:^| )ad-|"
                  "dfp[Aa]d|outbrain|taboola|criteo|paid-?content|widget|footer|Footer|byline|Byline|share-|"
                  "sociable|embedded|embed|tag-list|consent|modal-content|permission|elated|next-|-stories|"
                  "most-popular|more-on|meta|rating|attachment|timestamp|user-info|user-profile|-icon|"
                  "article-infos|message-container|slide|viewport|overlay|options|expand|obfuscated|blurred|"
                  "mol-factbox|yin|zlylin|nfoline")


class DiscardedSections(OwnAttributeWalk):
    SOURCE = (".//*[self::div or self::item or self::list or self::p or self::section or self::span][ "
              "@data-lp-replacement-content or contains(translate(@role, 'N', 'n'), 'nav') or "
              "contains(@data-component, 'MostPopularStories') or re:test(@id|@class, 'cookie') or "
              f"re:test(@id, '{_DISCARD_ID}') or re:test(@class, '{_DISCARD_CLASS}')]")
    TAGS = ("div", "item", "list", "p", "section", "span")
    _ID, _CLASS = re.compile(_DISCARD_ID), re.compile(_DISCARD_CLASS)

    def __call__(self, tree: HtmlElement) -> list[HtmlElement]:
        by_id, by_class, found = self._ID.search, self._CLASS.search, []
        for element in tree.iterdescendants(*self.TAGS):
            get = element.get
            id_, class_ = get("id"), get("class")
            if ((class_ is not None and (by_class(class_) or "cookie" in class_ and _first_is(element, "class", "id")))
                    or (id_ is not None and (by_id(id_) or "cookie" in id_ and _first_is(element, "id", "class")))
                    or get("data-lp-replacement-content") is not None
                    or "nav" in (get("role") or "").replace("N", "n")
                    or "MostPopularStories" in (get("data-component") or "")):
                found.append(element)
        return found


class HiddenAndReplies(OwnAttributeWalk):
    _ID_PATTERN = "reader-comments|akismet"
    _CLASS_PATTERN = ("^hide-|comments-title|nocomments|-reply-|message|akismet|suggest-links|-hide-|hide-print|"
                      " hidden| hide|noprint|notloaded")
    SOURCE = (".//*[@class='comments-title' or starts-with(@id|@class, 'reply-') or "
              "re:test(@id|@style, 'hidden') or contains(@style, 'display:none') or "
              f"contains(@style, 'display: none') or re:test(@id, '{_ID_PATTERN}') or "
              f"re:test(@class, '{_CLASS_PATTERN}') or @aria-hidden='true']")
    _ID, _CLASS = re.compile(_ID_PATTERN), re.compile(_CLASS_PATTERN)

    def __call__(self, tree: HtmlElement) -> list[HtmlElement]:
        by_id, by_class, found = self._ID.search, self._CLASS.search, []
        for element in tree.iterdescendants(Element):  # elements only, as * selects
            get = element.get
            id_, class_, style = get("id"), get("class"), get("style")
            if ((class_ is not None and (class_ == "comments-title" or by_class(class_)
                                         or class_.startswith("reply-") and _first_is(element, "class", "id")))
                    or (id_ is not None and (by_id(id_) or id_.startswith("reply-") and _first_is(element, "id", "class")
                                             or "hidden" in id_ and _first_is(element, "id", "style")))
                    or (style is not None and ("display:none" in style or "display: none" in style
                                               or "hidden" in style and _first_is(element, "style", "id")))
                    or get("aria-hidden") == "true"):
                found.append(element)
        return found


class ArticleBody(OwnAttributeWalk):
    """The first of trafilatura's expressions for the article's container (BODY_XPATH), which it
    tries on every page, and alone of them walks the whole tree. Its one reader
    (``trafilatura.main_extractor._extract``) takes the first element it selects, and that is the
    first element, in document order, that passes the test: ``[1]`` keeps each parent's first
    child that passes, and no element before that one passes. So the walk stops there, and this
    selects that element alone (or nothing)."""

    _ID_PATTERN = "(?:entry|article|art)-content|article__content|article(?:-|__)?body|articleBody|body-text"
    _CLASS_PATTERN = ("post[-_]text|post-body|post-?entry|post[-_]?content|postContent|post_inner_wrapper|"
                      "article-?text|articleText|(?:entry|page|text|article|art)-content|article__content|"
                      "article(?:-|__)?body|articleBody|ArticleContent|body-text|article__container")
    SOURCE = (".//*[self::article or self::div or self::main or self::section][ "
              "@class='post' or @class='entry' or @itemprop='articleBody' or @id='articleContent' or "
              f"re:test(@id, '{_ID_PATTERN}') or re:test(@class, '{_CLASS_PATTERN}') ][1]")
    TAGS = ("article", "div", "main", "section")
    _ID, _CLASS = re.compile(_ID_PATTERN), re.compile(_CLASS_PATTERN)

    def __call__(self, tree: HtmlElement) -> list[HtmlElement]:
        by_id, by_class = self._ID.search, self._CLASS.search
        for element in tree.iterdescendants(*self.TAGS):
            get = element.get
            id_, class_ = get("id"), get("class")
            if ((class_ is not None and (class_ == "post" or class_ == "entry" or by_class(class_)))
                    or (id_ is not None and (id_ == "articleContent" or by_id(id_)))
                    or get("itemprop") == "articleBody"):
                return [element]
        return []


for _expressions in (trafilatura.xpaths.RAW_TREE_PRUNE_XPATH, trafilatura.xpaths.REMOVE_COMMENTS_AND_LISTS_XPATH,
                     trafilatura.xpaths.OVERALL_DISCARD_XPATH, trafilatura.xpaths.BODY_XPATH):
    _expressions[:] = [OwnAttributeWalk.standing_in(x) for x in _expressions]  # in place: core holds these lists

# The archive keeps no license field, and trafilatura looks for one in every link of every footer
# of every page: about a twentieth of the extraction time, spent on nothing we store.
trafilatura.metadata.extract_license = lambda tree: None
