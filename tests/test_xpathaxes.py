"""archiver.content.xpathaxes: "//" steps rewritten as descendant:: steps, and name tests in
predicates rewritten as unions of named steps, must select exactly the same nodes, on
trafilatura's and htmldate's expressions over corpus pages and on random ones."""

from __future__ import annotations

import gzip
import importlib
import json
import random
from typing import Callable

import pytest
import trafilatura
from lxml import etree

from archiver.content.xpathaxes import rewrite_descendant_steps, rewrite_name_alternations
from archiver.content.xpathregex import rewrite_xpath
from conftest import CORPUS
from test_xpathregex import NS, pristine_module


@pytest.mark.parametrize("source,expected", [
    ("//a[@x]", "/descendant::a[@x]"),
    (".//a", "descendant::a"),
    ("a//b[c]//d", "a/descendant::b[c]/descendant::d"),
    ("//div[.//p]", "/descendant::div[descendant::p]"),
    (".//aside|.//div[contains(@class|@id, 'footer')]",
     "descendant::aside|descendant::div[contains(@class|@id, 'footer')]"),
    ("count(//p) > 1", "count(/descendant::p) > 1"),
    ("x and //p", "x and /descendant::p"),
    ("..//p", "../descendant::p"),
    ("(//p)[1]", "(/descendant::p)[1]"),  # the position applies to the whole set: unchanged
    ("//p//text()", "/descendant::p/descendant::text()"),
    ("//a[contains(@href, '//')]", "/descendant::a[contains(@href, '//')]"),
    ("//*[self::a or self::b][contains(@c, 'd')]", "/descendant::*[self::a or self::b][contains(@c, 'd')]"),
    ("//*[not(@x)]", "/descendant::*[not(@x)]"),
    ("//color//x", "/descendant::color/descendant::x"),
    # Left alone: positional or possibly positional predicates, axes, attributes, odd spacing.
    ("//p[1][@x]", "//p[1][@x]"), ("//p[@x][1][@y]", "//p[@x][1][@y]"), ("//text()[1]", "//text()[1]"),
    ("//p[last()]", "//p[last()]"), ("//p[position()=1]", "//p[position()=1]"),
    ("//p[count(x)]", "//p[count(x)]"), ("//p[string(@x)]", "//p[string(@x)]"), ("//p[@a * 2]", "//p[@a * 2]"),
    ("//p[@x][2]", "//p[@x][2]"), ("//p[not(@x) and position() > 1]", "//p[not(@x) and position() > 1]"),
    ("//@class", "//@class"), ("//self::p", "//self::p"), ("//.", "//."), ("a //b", "a //b"),
])
def test_rewrites(source, expected):
    got, count = rewrite_descendant_steps(source)
    assert got == expected
    assert count == expected.count("descendant::")
    etree.XPath(got)  # still an expression


@pytest.mark.parametrize("source,expected", [
    ("descendant::*[self::a or self::b][@x]", "(descendant::a[@x] | descendant::b[@x])"),
    ("/descendant::*[self::a]", "(/descendant::a)"),
    ("(descendant::*[self::a or self::b][@x][not(c)])[1]", "((descendant::a[@x][not(c)] | descendant::b[@x][not(c)]))[1]"),
    ("x | descendant::*[self::a or self::p][contains(@x, ']')] | y",
     "x | (descendant::a[contains(@x, ']')] | descendant::p[contains(@x, ']')]) | y"),
    ("count(descendant::*[self::a])", "count((descendant::a))"),
    ("x[descendant::*[self::a or self::b]]", "x[(descendant::a | descendant::b)]"),
    ("descendant::*[self::a][not(self::b) or @x='descendant::*[self::c]']",
     "(descendant::a[not(self::b) or @x='descendant::*[self::c]'])"),
    # Left alone: a positional predicate, a step before or after, another test among the names.
    ("descendant::*[self::a][1]", "descendant::*[self::a][1]"),
    ("descendant::*[self::a or self::b][last()]", "descendant::*[self::a or self::b][last()]"),
    ("x/descendant::*[self::a]", "x/descendant::*[self::a]"),
    ("descendant::*[self::a]/b", "descendant::*[self::a]/b"),
    ("descendant::*[self::a or @x]", "descendant::*[self::a or @x]"),
    ("descendant::*[self::a and self::b]", "descendant::*[self::a and self::b]"),
    ("descendant::*[self::re:a]", "descendant::*[self::re:a]"),
    ("x and descendant::*[self::a]", "x and descendant::*[self::a]"),
    ("'descendant::*[self::a]'", "'descendant::*[self::a]'"),
])
def test_name_alternations(source, expected):
    got, count = rewrite_name_alternations(source)
    assert got == expected
    assert count == (got != source)
    etree.XPath(got, namespaces=NS)  # still an expression


@pytest.mark.parametrize("source,expected,count", [
    # The first child of its parent to match: none of its preceding siblings matches.
    ("//p[1]", "/descendant::p[not(preceding-sibling::p)]", 1),
    (".//*[self::a or self::b][@x][1]",
     "descendant::*[self::a or self::b][@x][not(preceding-sibling::*[self::a or self::b][@x])]", 1),
    ("//p[.//a][1]/b", "/descendant::p[descendant::a][not(preceding-sibling::p[descendant::a])]/b", 2),
])
def test_first_child_rewrites(source, expected, count):
    assert rewrite_descendant_steps(source) == (expected, count)
    etree.XPath(expected)


def _random_tree(rng: random.Random) -> etree._Element:
    def grow(parent: etree._Element, depth: int) -> None:
        for _ in range(rng.randint(0, 4 if depth < 4 else 0)):
            child = etree.SubElement(parent, rng.choice("abcp"))
            if rng.random() < 0.4:
                child.set("x", rng.choice(["1", "2", "door"]))
            child.text = rng.choice([None, "t", " "])
            child.tail = rng.choice([None, "u"])
            grow(child, depth + 1)
    root = etree.Element("r")
    grow(root, 0)
    return root


_STEPS = ["a", "b", "p", "*", "text()"]
_PREDICATES = ["[@x]", "[@x='1']", "[1]", "[last()]", "[b]", "[.//a]", "[not(@x)]", "[count(b) > 0]",
               "[position() < 2]", "[string(@x)]", "[self::a or self::p]", "[contains(@x, 'o')]", "[2]"]


def _random_path(rng: random.Random) -> str:
    parts = [rng.choice(["//", ".//", "", "./"])]
    for i in range(rng.randint(1, 3)):
        if i:
            parts.append(rng.choice(["/", "//"]))
        step = rng.choice(_STEPS[:-1] if i < 2 else _STEPS)
        predicates = "" if step == "text()" else "".join(rng.sample(_PREDICATES, rng.randint(0, 2)))
        parts.append(step + predicates)
    path = "".join(parts)
    return f"({path})[1]" if rng.random() < 0.1 else path


def _rewrites_on_random_trees(seed: int, source: Callable[[random.Random], str],
                              rewrite: Callable[[str], tuple[str, int]]) -> int:
    """How many of 1,500 random expressions ``rewrite`` changed, asserting that each selects the
    same nodes as before on random trees, from several context nodes."""
    rng = random.Random(seed)
    rewritten = 0
    for _ in range(60):
        tree = _random_tree(rng)
        contexts = [tree] + [e for e in tree.iter() if e is not tree][:3]
        for _ in range(25):
            before = source(rng)
            after, count = rewrite(before)
            rewritten += bool(count)
            for context in contexts:
                assert context.xpath(after) == context.xpath(before), (before, after)
    return rewritten


def test_random_expressions_select_the_same_nodes():
    def source(rng: random.Random) -> str:
        return " | ".join(_random_path(rng) for _ in range(rng.randint(1, 2)))
    assert _rewrites_on_random_trees(20261206, source, rewrite_descendant_steps) > 500


def test_random_name_alternations_select_the_same_nodes():
    def source(rng: random.Random) -> str:
        names = " or ".join(f"self::{name}" for name in rng.sample("abcpq", rng.randint(1, 3)))
        predicates = "".join(rng.sample(_PREDICATES, rng.randint(0, 2)))
        path = f"{rng.choice(['', '/'])}descendant::*[{names}]{predicates}"
        return rng.choice(["{}", "({})[1]", "({})[last()]", "{} | //b", "count({})", "//c[{}]"]).format(path)
    assert _rewrites_on_random_trees(20261207, source, rewrite_name_alternations) > 600


def _expressions() -> dict[str, str]:
    found = {}
    for name in ("trafilatura.xpaths", "trafilatura.settings", "trafilatura.htmlprocessing",
                 "htmldate.extractors", "htmldate.core"):
        for attr, value in vars(pristine_module(name)).items():
            for i, x in enumerate(value if isinstance(value, list) else [value]):
                if isinstance(x, etree.XPath):
                    found.setdefault(x.path, f"{name}.{attr}[{i}]")
    return found


def test_trafilatura_expressions_select_the_same_elements_on_corpus_pages():
    """Each expression as the extractor runs it (re:test rewritten first) against the same with
    its "//" steps and name tests rewritten, at the root of corpus pages and at their <body>."""
    rows = [json.loads(line) for line in (CORPUS / "articles" / "manifest.jsonl").open()][::5]
    trees = []
    for row in rows:
        data = (CORPUS / row["html"]).read_bytes()
        tree = trafilatura.load_html(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
        if tree is not None:
            trees.append(tree)
    assert len(trees) > 70
    selected = {}
    for source, label in _expressions().items():
        before_source = rewrite_xpath(source)[0]
        after_source, stepped = rewrite_descendant_steps(before_source)
        after_source, named = rewrite_name_alternations(after_source)
        if not stepped + named:
            continue
        before, after = etree.XPath(before_source, namespaces=NS), etree.XPath(after_source, namespaces=NS)
        selected[label] = 0
        for tree in trees:
            for context in [tree, *tree.findall("body")]:
                want = before(context)
                assert after(context) == want, label
                selected[label] += len(want) if isinstance(want, list) else bool(want)
    print(selected)
    assert len(selected) >= 40 and sum(1 for n in selected.values() if n) >= len(selected) - 8


def test_the_extractor_runs_the_rewritten_expressions():
    importlib.import_module("archiver.content.extractor")
    live = [x for module in (importlib.import_module("trafilatura.xpaths"),) for value in vars(module).values()
            for x in (value if isinstance(value, list) else [value]) if isinstance(x, etree.XPath)]
    assert sum("descendant::" in x.path for x in live) >= 30
    kept = [x.path for x in live if rewrite_descendant_steps(x.path)[1] or rewrite_name_alternations(x.path)[1]]
    assert not kept
    assert sum("| descendant::" in x.path for x in live) >= 10
