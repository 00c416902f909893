"""Rewrite the ``//`` steps of XPath expressions as ``descendant::`` steps, and steps that test
an element's name in a predicate as a union of steps that name it.

``//x`` abbreviates ``/descendant-or-self::node()/child::x``. libxml2 evaluates that literally:
it collects every node of the tree, then the children of each, then sorts and merges the sets.
``/descendant::x`` selects the same elements in one walk. Where the step's predicates do not
depend on position, the two are equal by definition, and on trafilatura's expressions the
rewritten form is two to six times as fast (``//a[contains(@href, '/categor')]``: 0.46 ms to
0.08 ms a page on the shared corpus).

    //x[p]      ->  /descendant::x[p]     (from the root, wherever the expression starts)
    .//x[p]     ->  descendant::x[p]
    A//x[p]     ->  A/descendant::x[p]    (after a step, a predicate or a parenthesis)

A ``//`` is left as it is when the step after it names an axis, an attribute, ``.`` or ``..``,
or has a predicate that may be positional: one that mentions ``position()`` or ``last()``, or
whose value is not plainly a truth value or a node-set (``[1]``, ``[count(p)]``,
``[string(@x)]``). For those, the child step counts positions among siblings and the
descendant step among all descendants, so the results would differ.

trafilatura picks most of what it deletes with ``descendant::*[self::div or self::section][p]``:
libxml2 evaluates the name tests as a predicate, a sub-expression for each element of the page.
A name in the step itself is compared during the walk, so a union of such steps selects the same
elements, in the same (document) order, for a third to a half less (0.82 ms to 0.52 ms a page for
trafilatura's comment-section expression on the shared corpus):

    descendant::*[self::a or self::b][p]   ->  (descendant::a[p] | descendant::b[p])

Only a whole location path of that one step is rewritten (at the start, or after "(", "[", "|"
or ","; ending the expression or before ")", "]", "|" or ","), and only when its other
predicates are not positional, the same rule as for ``//``.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"\*|[A-Za-z_][\w.-]*(?::(?:\*|[A-Za-z_][\w.-]*))?")
_NODE_TYPE = re.compile(r"text\(\s*\)")
# What may come right before an absolute "//": the start, or something after which a new
# location path begins.
_OPENERS = set("([|,=<>")
_OPERATOR_NAMES = ("and", "or")
# Predicates whose value is a truth value at once (or a node-set, which counts as one).
_BOOLEAN_CALLS = ("not(", "contains(", "starts-with(", "boolean(", "true(", "false(", "lang(", "re:test(")
_ARITHMETIC = re.compile(r"\s(?:div|mod|-|\*)\s|[+]|\s-\d")
_COMPARISON = re.compile(r"!=|<=|>=|[=<>]|\band\b|\bor\b")
_PLAIN_NAME = r"[A-Za-z_][\w.-]*"
_NAME_TESTS = re.compile(rf"(/?)descendant::\*\s*\[\s*(self::{_PLAIN_NAME}(?:\s+or\s+self::{_PLAIN_NAME})*)\s*\]")
_PATH_OPENERS = set("([|,")
_PATH_CLOSERS = set(")]|,")


def rewrite_descendant_steps(source: str) -> tuple[str, int]:
    """The expression with its ``//`` steps rewritten where that is safe, and how many were."""
    out: list[str] = []
    replaced = i = 0
    while i < len(source):
        char = source[i]
        if char in "'\"":
            end = source.index(char, i + 1)  # an unclosed literal is a syntax error: raise
            out.append(source[i:end + 1])
            i = end + 1
            continue
        first = None
        if source.startswith("//", i) and (_safe_step(source, i + 2) or (first := _first_child(source, i + 2))):
            text = "".join(out)
            prefix = _prefix_for(text)
            if prefix is not None:
                if prefix == "descendant::":  # ".//": drop the "." that starts it
                    text = text.rstrip()[:-1]
                out = [text, prefix]
                replaced += 1
                i += 2
                if first:  # x[p][1] -> x[p][not(preceding-sibling::x[p])]
                    test, predicates_start, one_start, one_end = first
                    predicates, inner = rewrite_descendant_steps(source[predicates_start:one_start])
                    out.append(f"{source[i:predicates_start]}{predicates}"
                               f"[not(preceding-sibling::{test}{predicates.strip()})]")
                    replaced += inner
                    i = one_end
                continue
        out.append(char)
        i += 1
    return "".join(out), replaced


def rewrite_name_alternations(source: str) -> tuple[str, int]:
    """The expression with its ``descendant::*[self::a or self::b][p]`` paths written as unions
    of ``descendant::a[p]`` steps where that is safe, and how many were."""
    out: list[str] = []
    replaced = i = 0
    last = "("  # the last character before i that is not a space; the start counts as "("
    while i < len(source):
        char = source[i]
        if char in "'\"":
            end = source.index(char, i + 1)
            out.append(source[i:end + 1])
            i, last = end + 1, char
            continue
        match = _NAME_TESTS.match(source, i) if last in _PATH_OPENERS else None
        if match:
            predicates, end = _plain_predicates(source, match.end())
            if predicates is not None:
                names = re.findall(rf"self::({_PLAIN_NAME})", match[2])
                out.append("(" + " | ".join(f"{match[1]}descendant::{name}{predicates}" for name in names) + ")")
                replaced += 1
                i, last = end, ")"
                continue
        out.append(char)
        i += 1
        last = last if char.isspace() else char
    return "".join(out), replaced


def _plain_predicates(source: str, i: int) -> tuple[str | None, int]:
    """The predicates from ``i`` on and where they end, if none is positional and the path ends
    after them; else None."""
    found = _predicates(source, i)
    if found is None or not _all_truth_valued(source, found[0]):
        return None, i
    spans, after = found
    rest = source[after:].lstrip()
    if rest and rest[0] not in _PATH_CLOSERS:
        return None, i
    return "".join(source[j:end + 1] for j, end in spans), after


def _prefix_for(before: str) -> str | None:
    """What replaces a "//" that follows ``before``, or None when it should stay."""
    stripped = before.rstrip()
    if not stripped or stripped[-1] in _OPENERS:
        return "/descendant::"
    if stripped != before:  # "... and //x"; anything else spaced unusually is left alone
        word = re.search(r"[\w.:-]+$", stripped)
        if word and word[0] in _OPERATOR_NAMES and _follows_operand(stripped[: word.start()]):
            return "/descendant::"
        return None
    if stripped.endswith(".") and not stripped.endswith(".."):
        head = stripped[:-1]
        if not head or head[-1] in _OPENERS or head[-1].isspace():
            return "descendant::"
        return None
    if stripped[-1] in "])*_-." or stripped[-1].isalnum():
        return "/descendant::"  # after a step, a predicate or a parenthesised expression
    return None


def _follows_operand(before: str) -> bool:
    """Whether an "and"/"or" after ``before`` is the operator (something precedes it)."""
    tail = before.rstrip()
    return bool(tail) and tail[-1] not in _OPENERS and tail != before


def _safe_step(source: str, start: int) -> bool:
    """Whether the step that starts at ``start`` (after a "//") can be rewritten: not when that
    could change the result (an axis, an attribute, "." or "..", or a positional predicate)."""
    i = start
    while i < len(source) and source[i].isspace():
        i += 1
    match = _NODE_TYPE.match(source, i) or _NAME.match(source, i)
    if match is None:
        return False
    i = match.end()
    if source.startswith("::", i) or (source.startswith("(", i) and match.re is _NAME):
        return False  # an axis, or a function call
    found = _predicates(source, i)
    return found is not None and _all_truth_valued(source, found[0])


def _first_child(source: str, start: int) -> tuple[str, int, int, int] | None:
    """For a step after a "//" that picks the first child of its parent that matches,
    ``x[p][1]`` (``[p]`` any number of predicates, none positional): its name test, where its
    predicates start, and where its ``[1]`` starts and ends; else None.

    Among all the descendants of a node, those that are the first child of their parent to
    match are those with no preceding sibling that matches: ``descendant::x[p][not(
    preceding-sibling::x[p])]``, in one walk where ``//x[p][1]`` visits each parent's children.
    """
    i = start
    while i < len(source) and source[i].isspace():
        i += 1
    match = _NAME.match(source, i)
    if match is None or source.startswith(("::", "("), match.end()):
        return None
    found = _predicates(source, match.end())
    if found is None or not found[0]:
        return None
    *plain, (one_start, one_end) = found[0]
    if source[one_start + 1:one_end].strip() != "1" or not _all_truth_valued(source, plain):
        return None
    return match[0], match.end(), one_start, one_end + 1


def _predicates(source: str, i: int) -> tuple[list[tuple[int, int]], int] | None:
    """Where each predicate of a step starts and ends (its brackets), from ``i`` on, and where the
    last one ends; None if a bracket is left open."""
    spans = []
    while True:
        j = i
        while j < len(source) and source[j].isspace():
            j += 1
        if not source.startswith("[", j):
            return spans, i
        end = _closing_bracket(source, j)
        if end is None:
            return None
        spans.append((j, end))
        i = end + 1


def _closing_bracket(source: str, start: int) -> int | None:
    depth, i = 0, start
    while i < len(source):
        char = source[i]
        if char in "'\"":
            end = source.find(char, i + 1)
            if end < 0:
                return None
            i = end + 1
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _without_literals(text: str) -> str:
    return re.sub(r"'[^']*'|\"[^\"]*\"", "''", text)


def _top_level(text: str) -> str:
    """``text`` with everything inside parentheses and brackets removed."""
    kept, depth = [], 0
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif depth == 0:
            kept.append(char)
    return "".join(kept)


def _all_truth_valued(source: str, spans: list[tuple[int, int]]) -> bool:
    """Whether every predicate of ``source`` at these bracket ``spans`` is surely not positional."""
    return all(_truth_valued(source[j + 1:end]) for j, end in spans)


def _truth_valued(predicate: str) -> bool:
    """Whether a predicate is surely not positional: it names neither position() nor last(),
    and it is a comparison or a boolean combination, a boolean function, or a location path."""
    bare = _without_literals(predicate)
    if re.search(r"\b(?:position|last)\s*\(", bare):
        return False
    top = _top_level(bare).strip()
    if _COMPARISON.search(top):
        return True
    head = bare.strip()
    if head.startswith(_BOOLEAN_CALLS):
        return _top_level(head).strip() in {name[:-1] for name in _BOOLEAN_CALLS}
    # A location path: an attribute, ".", "/", a name test or a node type test, with no
    # arithmetic at the top level ("*" there is a name test only at the start of a step).
    if re.fullmatch(r"[@./]|[A-Za-z_*]", head[:1] or "0") and not _ARITHMETIC.search(top):
        return not re.search(r"^[A-Za-z_][\w.-]*\s*\(", head) or head.startswith(("text(", "node("))
    return False
