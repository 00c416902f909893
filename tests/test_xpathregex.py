"""archiver.content.xpathregex: re:test() calls rewritten into native XPath must select exactly the same
elements as Python's re.search, on real attribute values and on strings built from each pattern."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import gzip
import itertools
import json
import random
import re
import sys
from pathlib import Path
from typing import Callable
from xml.sax.saxutils import quoteattr

import pytest
import trafilatura
import trafilatura.settings
import trafilatura.xpaths
from lxml import etree

from archiver.content.xpathaxes import rewrite_descendant_steps, rewrite_name_alternations
from archiver.content.xpathregex import regex_to_xpath, rewrite_xpath, unsupported_reason
from conftest import CORPUS

NS = {"re": "http://exslt.org/regular-expressions"}
CALL = re.compile(r"re:test\(([^,]+),\s*'([^']*)'(?:,\s*'([^']*)')?\)")
PAGES = 300        # pages whose id/class/style values are collected
TREE_PAGES = 150   # pages on which whole expressions are compared
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xpaths(module, names=None) -> dict[str, list[etree.XPath]]:
    """The module's expressions by name; a stand-in of archiver.content.speedups
    (OwnAttributeWalk) gives the rewritten expression it stands in for, its ``whole``."""
    found = {}
    for name in names or dir(module):
        value = getattr(module, name)
        items = [getattr(x, "whole", x) for x in (value if isinstance(value, (list, tuple)) else [value])]
        if items and all(isinstance(x, etree.XPath) for x in items):
            found[name] = list(items)
    return found


def pristine_module(name: str):
    """A fresh copy of a module of trafilatura or htmldate: archiver.content.extractor rewrites the
    imported ones in place (that is its purpose), and these tests compare against the expressions
    as trafilatura has them. The copy sits in the same package, for its relative imports."""
    module = importlib.import_module(name)
    package, _, leaf = name.rpartition(".")
    spec = importlib.util.spec_from_file_location(f"{package}._pristine_{leaf}", module.__file__)
    copy = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = copy
    spec.loader.exec_module(copy)
    return copy


XPATHS = _xpaths(pristine_module("trafilatura.xpaths"))
ALL_XPATHS = {**XPATHS, **_xpaths(pristine_module("trafilatura.settings"), ["BASIC_CLEAN_XPATH"])}
CALLS = sorted({(m[1].strip(), m[2], m[3] or "") for xs in ALL_XPATHS.values() for x in xs
                for m in CALL.finditer(x.path)})


@pytest.fixture(scope="module")
def corpus() -> tuple[list[etree._Element], list[str]]:
    """Parsed pages, and every distinct id, class and style value found in them."""
    rows = [json.loads(line) for line in (CORPUS / "articles" / "manifest.jsonl").open()]
    rows = rows[:: max(1, len(rows) // PAGES)][:PAGES]
    trees, values = [], set()
    for row in rows:
        data = (CORPUS / row["html"]).read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        tree = trafilatura.load_html(data)
        if tree is None:
            continue
        trees.append(tree)
        for el in tree.iter():
            values.update(v for k, v in el.attrib.items() if k in ("id", "class", "style"))
    assert len(trees) > 250 and len(values) > 5000
    return trees[::2][:TREE_PAGES], sorted(v for v in values if not _NOT_XML.search(v))


@pytest.fixture(scope="module")
def corpus_documents(corpus) -> Callable[[str], etree._Element]:
    """A document with one <e NAME="value"/> per corpus value, built once per attribute name."""
    return functools.cache(lambda name: _document([[(name, v)] for v in corpus[1]]))


def _document(elements: list[list[tuple[str, str]]]) -> etree._Element:
    """<r> with one <e> per list of (attribute, value), attributes in that order."""
    markup = "".join("<e %s/>" % " ".join(f"{k}={quoteattr(v)}" for k, v in attrs)
                     for attrs in elements)
    doc = etree.fromstring(f"<r>{markup}</r>")
    assert [list(e.attrib.items()) for e in doc] == elements  # values and order survived parsing
    return doc


def _probes(pattern: str, translated: str) -> list[str]:
    """Strings near the edges of the pattern: its literals, alone, padded, cut, case-swapped."""
    bases = set(re.findall(r"'([^']*)'", translated)) | set(re.findall(r'"([^"]*)"', translated))
    bases |= set(re.split(r"[|()?:!^\[\]{}\\]+", pattern))
    probes = {""}
    for s in bases:
        for t in (s, s.swapcase(), s.capitalize(), s[:-1], s[1:]):
            probes.update([t, "x" + t, t + "x", " " + t, t + " ", "-" + t, t + "-", "x" + t + " y",
                           t + "ary", t + "s", t + t])
    return sorted(p for p in probes if not _NOT_XML.search(p))


@pytest.mark.parametrize("arg,pattern,flags", CALLS, ids=[f"{a}:{p[:40]}" for a, p, _ in CALLS])
def test_each_call_matches_python_re(corpus, corpus_documents, arg, pattern, flags):
    native = regex_to_xpath(arg, pattern, flags)
    if native is None:  # kept as re:test, made only for elements with the attribute
        tail = f", '{flags}'" if flags else ""
        call = f"re:test({arg}, '{pattern}'{tail})"
        new, replaced, kept = rewrite_xpath(f"e[{call}]")
        assert unsupported_reason(pattern, flags) and (replaced, kept) == (0, 1)
        assert new in (f"e[({arg} and {call})]", f"e[(({arg}) and {call})]")
        names = re.findall(r"@([\w-]+)", arg)
        for doc in [corpus_documents(name) for name in names] + [_document([[], [("other", "")]])]:
            assert doc.xpath(new, namespaces=NS) == doc.xpath(f"e[{call}]", namespaces=NS)
        return
    names = re.findall(r"@([\w-]+)", arg)
    probes = _probes(pattern, native)
    other = next(p for p in probes if re.search(pattern, p))
    # With two attributes, string(@id|@class) is the first one in document order: put each value
    # before and after the other attribute, holding a value that matches or one that does not.
    mixed = probes + corpus[1][::40]
    elements = [[]] + [[(a, s)] for s in probes for a in names]
    elements += [[(a, s), (b, w)] for s in mixed for a in names for b in names if a != b
                 for w in (other, "zz")]
    search = re.compile(pattern).search
    original = f"e[re:test({arg}, '{pattern}', '{flags}')]"
    # Corpus values, one attribute each: compare the values of the selected attributes.
    doc, values = corpus_documents(names[0]), corpus[1]
    expected = [v for v in values if search(v)]
    assert doc.xpath(f"{original}/@{names[0]}", namespaces=NS, smart_strings=False) == expected
    assert doc.xpath(f"e[{native}]/@{names[0]}", smart_strings=False) == expected
    # Probes, and values next to a second attribute: compare element by element.
    doc = _document(elements)
    expected_flags = [bool(search(next((v for k, v in e.attrib.items() if k in names), "")))
                      for e in doc]
    by_re_test, rewritten = set(doc.xpath(original, namespaces=NS)), set(doc.xpath(f"e[{native}]"))
    assert [e in by_re_test for e in doc] == expected_flags  # the oracle agrees with lxml
    wrong = [(dict(e.attrib), want) for e, want in zip(doc, expected_flags)
             if (e in rewritten) != want]
    assert not wrong, f"{native} differs from re.search on {wrong[:5]}"
    # The strings exercise both outcomes.
    assert 5 < sum(expected_flags) < len(expected_flags) - 5


def test_most_calls_are_translated():
    translated = kept = 0
    for name, xs in XPATHS.items():
        for x in xs:
            _, replaced, left = rewrite_xpath(x.path)
            translated, kept = translated + replaced, kept + left
            for m in CALL.finditer(x.path):
                if (reason := unsupported_reason(m[2], m[3] or "")) is not None:
                    print(f"kept in {name}: {m[0][:70]} ({reason})")
    print(f"{translated} of {translated + kept} re:test calls translated")
    assert translated + kept == sum(x.path.count("re:test(") for xs in XPATHS.values() for x in xs)
    assert translated >= 36


def test_rewritten_expressions_select_the_same_elements(corpus):
    selected = {}
    for name, xs in sorted(ALL_XPATHS.items()):
        for i, x in enumerate(xs):
            source, replaced, kept = rewrite_xpath(x.path)
            assert (source == x.path) == (replaced == 0 and " and re:test(" not in source)
            if source == x.path:
                continue
            new = etree.XPath(source, namespaces=NS)
            selected[f"{name}[{i}]"] = 0
            for tree in corpus[0]:
                before = x(tree)
                assert before == new(tree), (name, i, x.path)
                selected[f"{name}[{i}]"] += len(before)
    print(selected)
    # Rewritten expressions that select something on these pages, so the comparison means something.
    assert len(selected) >= 15 and sum(1 for n in selected.values() if n) >= len(selected) - 4


@pytest.mark.parametrize("pattern,flags", [
    ("bottom$", ""), ("a.b", ""), (r"(^|\s)link", ""), (r"\slink", ""), (r"\d", ""), (r"\bx", ""),
    ("fulltext", "i"), ("(a|b)", ""), ("(?:a|b)(c)", ""), ("a(?!b)", ""), ("x|a(?!b)", ""),
    ("a*", ""), ("a+", ""), ("[a-z]", ""), ("[^a]", ""), (r"[\w]", ""), ("a{5}", ""), ("a{2,}", ""),
    ("a??", ""), ("a^b", ""), ("x(?:^a)", ""), ("(?=a)", ""), ("(?i)a", ""), ("(?P<n>a)", ""),
    ("a)", ""), ("(?:a", ""), ("[ab]{3}[ab]{3}[ab]", ""), ("'\"", ""),
])
def test_refusals(pattern, flags):
    assert regex_to_xpath("@class", pattern, flags) is None
    assert unsupported_reason(pattern, flags)


def test_exact_outputs():
    assert regex_to_xpath("@class", "a|^b") == \
        "boolean(@class[contains(string(), 'a') or starts-with(string(), 'b')])"
    assert regex_to_xpath("@id|@class", r"^comment[s-]|\ x") == (
        "boolean((@id|@class)[1][starts-with(string(), 'comments') or "
        "starts-with(string(), 'comment-') or contains(string(), ' x')])")
    assert regex_to_xpath("@id", "^(?:[Cc]omment(?!ary)|comol)") == (
        "boolean(@id[(starts-with(string(), 'Comment') and "
        "not(starts-with(string(), 'Commentary'))) or (starts-with(string(), 'comment') and "
        "not(starts-with(string(), 'commentary'))) or starts-with(string(), 'comol')])")
    assert regex_to_xpath("@class", "(?:^| )ad-|embed(?:ded)?") == (
        "boolean(@class[starts-with(string(), 'ad-') or contains(string(), ' ad-') or "
        "contains(string(), 'embed')])")
    assert regex_to_xpath("@class", "notice[-_]{0,2}x") == (
        "boolean(@class[contains(string(), 'noticex') or contains(string(), 'notice-x') or "
        "contains(string(), 'notice_x') or contains(string(), 'notice--x') or "
        "contains(string(), 'notice-_x') or contains(string(), 'notice_-x') or "
        "contains(string(), 'notice__x')])")
    assert regex_to_xpath("@class", "it's") == """boolean(@class[contains(string(), "it's")])"""
    # Patterns that match the empty string cannot skip elements without the attribute.
    assert regex_to_xpath("@class", "a?") == "(true())"
    assert regex_to_xpath("@class", "^(?!x)") == "(not(starts-with(@class, 'x')))"
    assert regex_to_xpath("name()", "a") == "(contains(name(), 'a'))"


def test_rewrite_xpath_keeps_what_it_cannot_translate():
    source = (".//*[re:test(@id|@class, '(^|\\s)bottom|bottom(\\s|$)') or "
              "re:test(@class, 'fulltext', 'i') or re:test(@id, 'a|b')][1]")
    new, replaced, kept = rewrite_xpath(source)
    assert (replaced, kept) == (1, 2)
    assert new == (".//*[((@id|@class) and re:test(@id|@class, '(^|\\s)bottom|bottom(\\s|$)')) or "
                   "(@class and re:test(@class, 'fulltext', 'i')) or "
                   "boolean(@id[contains(string(), 'a') or contains(string(), 'b')])][1]")
    assert rewrite_xpath("//p[@class='x']") == ("//p[@class='x']", 0, 0)
    # A kept call whose pattern matches the empty string tests elements without the attribute
    # too; so does one on something other than an attribute. Both stay unguarded.
    for call in ("re:test(@class, '(a|b)?c?')", "re:test(@class, '^$', 'i')", "re:test(name(), '(x)')"):
        assert rewrite_xpath(f"//e[{call}]") == (f"//e[{call}]", 0, 1)


def test_guarded_calls_select_what_re_test_does():
    """A guarded call against the plain one, on elements with the attribute (empty, matching, not
    matching, in other cases) and without it."""
    doc = etree.fromstring('<r><e/><e class=""/><e class="Cookie-Banner"/><e class="cookie"/>'
                           '<e id="ONETRUST-x"/><e class="a" id="cmplz"/><e class="\u212aookie_bar"/></r>')
    for source in (".//e[re:test(@class, 'cookie[-_]?(?:banner|bar)|onetrust|(c)mplz', 'i')]",
                   ".//e[re:test(@id|@class, 'cookie[-_]?(?:banner|bar)|onetrust|(c)mplz', 'i')]",
                   ".//e[re:test(@class, '(b|c)ookie')]"):
        new, replaced, kept = rewrite_xpath(source)
        assert (replaced, kept) == (0, 1) and " and re:test(" in new
        want = doc.xpath(source, namespaces=NS)
        assert doc.xpath(new, namespaces=NS) == want and 0 < len(want) < len(doc)


def _random_pattern(rng: random.Random, depth: int = 0) -> str:
    def atom() -> str:
        roll = rng.random()
        if roll < 0.15 and depth < 2:
            return f"(?:{_random_pattern(rng, depth + 1)})"
        if roll < 0.3:
            return "[" + "".join(rng.sample("ab-c", rng.randint(1, 2))).replace("-", "") + "-]"
        return rng.choice("abc- ") if roll < 0.9 else "\\-"

    branches = []
    for _ in range(rng.randint(1, 3)):
        anchored = rng.random() < (0.4 if depth == 0 else 0.1)
        parts = ["^"] if anchored else []
        for _ in range(rng.randint(0 if depth else 1, 3)):
            quant = rng.choice(["", "", "", "?", "{0,2}", "{2}", "{1,3}"])
            parts.append(atom() + quant)
        if anchored and depth == 0 and rng.random() < 0.5:
            lookahead = f"(?!{rng.choice(['a', 'b', 'ab', 'c|-', '[ab]?c'])})"
            parts.insert(rng.randint(1, len(parts)), lookahead)
        branches.append("".join(parts))
    return "|".join(branches)


def test_random_patterns_match_python_re():
    """Patterns drawn from the supported grammar, on every short string over their alphabet."""
    rng = random.Random(1234)
    strings = ["".join(chars) for n in range(5) for chars in itertools.product("abc- A", repeat=n)]
    doc = etree.fromstring("<r><e/>" + "".join(f"<e class={quoteattr(s)}/>" for s in strings)
                           + "</r>")
    checked = 0
    for _ in range(300):
        pattern = _random_pattern(rng)
        native = regex_to_xpath("@class", pattern)
        if native is None:
            assert unsupported_reason(pattern) in ("too many alternatives",
                                                   "^ after the start of a branch")
            continue
        got = set(doc.xpath(f"e[{native}]"))
        want = [bool(re.search(pattern, e.get("class", ""))) for e in doc]
        assert [e in got for e in doc] == want, (pattern, native)
        checked += 1
    assert checked > 150


def test_the_extractor_runs_the_rewritten_expressions():
    """Importing archiver.extractor leaves in trafilatura only the re:test calls kept as they were
    (each expression is then rewritten by archiver.content.xpathaxes, tested there)."""
    importlib.import_module("archiver.content.extractor")  # rewrites trafilatura's expressions on import

    live = _xpaths(trafilatura.xpaths)
    for name, pristine in XPATHS.items():
        for before, running in zip(pristine, live[name], strict=True):
            source = rewrite_xpath(before.path)[0]
            assert running.path == rewrite_name_alternations(rewrite_descendant_steps(source)[0])[0], name
    assert sum(rewrite_xpath(x.path)[2] for xs in XPATHS.values() for x in xs) < 10
