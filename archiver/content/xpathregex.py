"""Rewrite EXSLT ``re:test()`` calls in XPath expressions into native XPath 1.0.

trafilatura's XPath expressions filter elements with calls like
``re:test(@class, 'author|channel-name|^(?:post-?info|meta)')``. lxml evaluates each of them by
calling back into Python's ``re`` once per element tested, which costs a large share of the
extraction time. Nearly all of these patterns are finite alternations of literals, so they can be
written with ``contains()``, ``starts-with()`` and ``not()``, which libxml2 evaluates in C, with
exactly the same result as ``re.search(pattern, string(arg))``. On trafilatura's expressions
this makes AUTHOR_XPATHS and OVERALL_DISCARD_XPATH about 1.6-1.8 times as fast.

Only a small, safe subset of the regex syntax is translated (literals, escaped punctuation, simple
character classes, non-capturing groups, ``?`` and small ``{m,n}``, ``^`` at the start of a branch
and literal negative lookaheads in anchored branches). Anything else, such as flags, ``$``, ``.``,
``\\s`` or capturing groups, makes :func:`regex_to_xpath` return None, and :func:`rewrite_xpath`
leaves that call as it is.
"""

from __future__ import annotations

import re

# Refuse patterns that expand to more alternatives than this. Besides bounding the expansion,
# it keeps very long alternations as re:test: one regex call per element beats some 60 contains()
# (measured on trafilatura's 67-branch class pattern in OVERALL_DISCARD_XPATH).
MAX_LITERALS = 64
_MAX_REPEAT = 3
_SPECIAL = set("\\.^$*+?{}[]()|")
_ATTRIBUTES = re.compile(r"@[\w.:-]+(?:\s*\|\s*@[\w.:-]+)*")

# One alternative a pattern matches: (anchored at position 0, literal text, prefixes that must
# not start the string: the negative lookaheads, written from the start of the string).
_State = tuple[bool, str, tuple[str, ...]]


class _Unsupported(Exception):
    pass


class _Parser:
    def __init__(self, pattern: str):
        self.p, self.i = pattern, 0

    def peek(self, k: int = 1) -> str:
        return self.p[self.i : self.i + k]

    def alternation(self) -> list[_State]:
        states = self.sequence()
        while self.peek() == "|":
            self.i += 1
            states = _capped(states + self.sequence())
        return states

    def sequence(self) -> list[_State]:
        states: list[_State] = [(False, "", ())]
        while self.i < len(self.p) and self.peek() not in "|)":
            if self.peek() == "^":
                self.i += 1
                states = _concat(states, [(True, "", ())])
                continue
            if self.peek(3) == "(?!":
                self.i += 3
                ahead = self.group_body()
                if any(anch or negs for anch, _, negs in ahead):
                    raise _Unsupported("anchor or lookahead inside a lookahead")
                states = [(a, t, n + tuple(t + la for _, la, _ in ahead)) for a, t, n in states]
                continue
            states = _concat(states, self.quantified(self.atom()))
        return states

    def group_body(self) -> list[_State]:
        states = self.alternation()
        if self.peek() != ")":
            raise _Unsupported("unbalanced group")
        self.i += 1
        return states

    def atom(self) -> list[_State]:
        c = self.peek()
        self.i += 1
        if c == "(":
            if self.peek(2) != "?:":
                raise _Unsupported("capturing group or unsupported group type")
            self.i += 2
            return self.group_body()
        if c == "[":
            end = self.p.find("]", self.i)
            body = self.p[self.i : end] if end >= 0 else ""
            inner = body[1:-1]
            if not body or body[0] == "^" or set(body) & set("\\[") or "-" in inner:
                raise _Unsupported("unsupported character class")
            self.i = end + 1
            return [(False, ch, ()) for ch in dict.fromkeys(body)]
        if c == "\\":
            c = self.peek()
            self.i += 1
            if not c or not c.isascii() or c.isalnum():
                raise _Unsupported("escape sequence with a special meaning")
            return [(False, c, ())]
        if c in _SPECIAL:
            raise _Unsupported(f"unsupported syntax {c!r}")
        return [(False, c, ())]

    def quantified(self, atom: list[_State]) -> list[_State]:
        if self.peek() == "?":
            self.i += 1
            low, high = 0, 1
        elif self.peek() == "{":
            m = re.compile(r"\{(\d+)(?:,(\d+))?\}").match(self.p, self.i)
            if not m:
                raise _Unsupported("unsupported repetition")
            self.i = m.end()
            low, high = int(m[1]), int(m[2] if m[2] is not None else m[1])
            if not low <= high <= _MAX_REPEAT:
                raise _Unsupported("repetition bounds too large")
        else:
            return atom
        if self.peek() and self.peek() in "?+*{":
            raise _Unsupported("lazy, possessive or repeated quantifier")
        result: list[_State] = []
        power: list[_State] = [(False, "", ())]
        for k in range(high + 1):
            if k >= low:
                result += power
            power = _concat(power, atom)
        return _capped(result)


def _capped(states: list[_State]) -> list[_State]:
    if len(states) > MAX_LITERALS:
        raise _Unsupported("too many alternatives")
    return states


def _concat(left: list[_State], right: list[_State]) -> list[_State]:
    """All alternatives of ``left`` followed by ``right`` (a negative lookahead in ``right`` is
    relative to where ``right`` starts, so it is prefixed with the text of ``left``)."""
    if any(anchored for anchored, _, _ in right) and any(text for _, text, _ in left):
        raise _Unsupported("^ after the start of a branch")
    return _capped([(a1 or a2, t1 + t2, n1 + tuple(t1 + neg for neg in n2))
                    for a1, t1, n1 in left for a2, t2, n2 in right])


def _quote(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    raise _Unsupported("literal contains both quote characters")


def _expand(pattern: str) -> list[_State]:
    parser = _Parser(pattern)
    states = parser.alternation()
    if parser.i != len(pattern):
        raise _Unsupported("unbalanced ')'")
    if any(negs and not anchored for anchored, _, negs in states):
        raise _Unsupported("lookahead in a branch not anchored with ^")
    # Drop duplicates and alternatives implied by another one, which can then stand for both:
    # 'embedded' by 'embed', '^shared' by 'share', and 'x' without a lookahead implies 'x' with one.
    states = list(dict.fromkeys(states))
    plain = [(a, t) for a, t, negs in states if not negs]

    def implied(anchored: bool, text: str, negs: tuple[str, ...]) -> bool:
        for a, t in plain:
            if (a, t) == (anchored, text):
                if negs:  # the same alternative without a lookahead
                    return True
            elif (anchored or not a) and (text.startswith(t) if a else t in text):
                return True
        return False

    return [state for state in states if not implied(*state)]


def regex_to_xpath(arg: str, pattern: str, flags: str = "") -> str | None:
    """XPath 1.0 boolean expression equal to ``re:test(arg, pattern, flags)``, or None.

    When ``arg`` names attributes (``@class``, ``@id|@class``) the literals are tested on the
    string value of the first of them, ``boolean((@id|@class)[1][contains(string(), 'x') or ...])``:
    libxml2 then skips elements without the attribute at once and does not walk the attribute
    list again for each literal. Otherwise each literal is tested as ``contains(arg, 'x')``.
    """
    try:
        return _translate(arg, pattern, flags)
    except _Unsupported:
        return None


def unsupported_reason(pattern: str, flags: str = "") -> str | None:
    """Why :func:`regex_to_xpath` refuses this pattern, or None if it translates it."""
    try:
        _translate("@a", pattern, flags)
    except _Unsupported as exc:
        return str(exc)
    return None


def _translate(arg: str, pattern: str, flags: str) -> str:
    if flags:
        raise _Unsupported(f"flags {flags!r}")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise _Unsupported(f"invalid pattern: {exc}") from None
    states = _expand(pattern)
    node_form = bool(_ATTRIBUTES.fullmatch(arg)) and all(text for _, text, _ in states)
    ref = "string()" if node_form else arg
    terms = []
    for anchored, text, negs in states:
        parts = [f"not(starts-with({ref}, {_quote(neg)}))" for neg in dict.fromkeys(negs)]
        if text:
            parts.insert(0, f"{'starts-with' if anchored else 'contains'}({ref}, {_quote(text)})")
        if not parts:  # the empty string matches everything
            return "(true())"
        terms.append(parts[0] if len(parts) == 1 else f"({' and '.join(parts)})")
    if not node_form:
        return f"({' or '.join(terms)})"
    first = arg if "|" not in arg else f"({arg})[1]"  # string(node-set) is its first node's
    return f"boolean({first}[{' or '.join(terms)}])"


# re:test(ARG, 'PATTERN'[, 'FLAGS']): the quoted strings are matched as a whole, so parentheses
# inside a pattern do not end the call.
_CALL = re.compile(r"""re:test\(\s*([^,'"()]+?)\s*,\s*(['"])(.*?)\2\s*"""
                   r"""(?:,\s*(['"])(.*?)\4\s*)?\)""", re.DOTALL)


def rewrite_xpath(source: str) -> tuple[str, int, int]:
    """Replace each translatable ``re:test()`` call in an XPath source.

    Returns the new source, the number of calls replaced and the number kept as ``re:test``
    (those on an attribute now made only for elements that have it, see ``_guarded``).
    """
    replaced = 0

    def substitute(m: re.Match[str]) -> str:
        nonlocal replaced
        native = regex_to_xpath(m[1], m[3], m[5] or "")
        if native is None:
            return _guarded(m[0], m[1], m[3], m[5] or "")
        replaced += 1
        return native

    result = _CALL.sub(substitute, source)
    return result, replaced, source.count("re:test(") - replaced


def _guarded(call: str, arg: str, pattern: str, flags: str) -> str:
    """A call kept as ``re:test`` on an attribute, made only for elements that have it.

    Without the attribute, the call tests the empty string, which a pattern that needs at least
    one character never matches: ``(@class and re:test(@class, ...))`` is then the same test,
    and it skips the call into Python for most elements (twice as fast on trafilatura's
    cookie-banner test). lxml compiles the pattern with re.IGNORECASE for the "i" flag, and
    ignores "g" in a test, as done here."""
    if not _ATTRIBUTES.fullmatch(arg.strip()):
        return call
    try:
        matches_empty = re.search(pattern, "", re.IGNORECASE if "i" in flags else 0) is not None
    except re.error:
        return call
    attribute = arg.strip() if "|" not in arg else f"({arg.strip()})"
    return call if matches_empty else f"({attribute} and {call})"
