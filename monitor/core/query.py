"""The topic query language: parse once, match many stories (pure).

    ("export controls" OR "entity list" OR BIS) AND (chip* OR Nvidia) AND NOT title:opinion

- a bare word matches that whole word; `chip*` any word that starts with `chip`;
- `"export controls"` a phrase: its words next to each other, in order (`\\"` and `\\\\` escape
  a quote and a backslash inside it);
- `a NEAR/5 b` both, at most 5 words apart, in either order (terms or phrases only);
- `title:`, `text:`, `outlet:`, `url:` restrict a term, a phrase or a group to one field;
  unprefixed terms look in the headline and the text; `lead:` is the headline and the first
  paragraph (at most LEAD_WORDS words), what a story is about rather than what it mentions
  in passing (Factiva's "hlp");
- `NOT`, `AND`, `OR` (upper case: lower case they are words), parentheses; two operands
  side by side mean AND. Precedence: NOT binds tightest, then NEAR/n, then AND, then OR, so
  `a OR b AND NOT c` is `a OR (b AND (NOT c))`.

Matching ignores case and accents and works on whole words: text is split into words (runs
of letters and digits), so `DeepSeek-R1` is the phrase "deepseek r1" and `U.S.` "u s".
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar, cast

FIELDS = ("title", "lead", "text", "outlet", "url")
LEAD_WORDS = 60  # `lead:` is the headline and the first paragraph, cut at this many words
_DEFAULT_FIELDS = ("title", "text")
_WORD = re.compile(r"\w+")
# Letters casefold leaves apart from their ASCII twins; the punctuation news text is full of
# (a separator either way, but as a space the text often becomes ASCII: faster to split); and
# the invisible characters that pages put inside words (soft hyphens, zero-width spaces and
# joiners, stray byte-order marks): removed, so that "Ex\u00adport" is the word "export".
_LOOKALIKES = (
    {"ı": "i", "ſ": "s", "\u212a": "k", "ß": "ss"}
    | dict.fromkeys(
        "\u2018\u2019\u201a\u201c\u201d\u201e\u2039\u203a\u00ab\u00bb"  # quotation marks
        "\u2010\u2012\u2013\u2014\u2015\u2212"  # hyphens, dashes, the minus sign
        "\u2026\u2022\u00b7\u00a0\u2032\u2033\u00b0\u00a7\u00a9\u00ae\u20ac\u00a3",
        " ",
    )
    | dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff", "")
)
# As (character, replacement) pairs: a few str.replace calls, each only when its character
# occurs, cost far less than str.translate, which looks up every character of the text.
_LOOKALIKE_PAIRS = tuple(_LOOKALIKES.items())
# Every ASCII character that is not a word character (\w), as a space, for bytes (ASCII text
# is encoded to be translated: bytes.translate is several times faster than str.translate).
_NOT_WORD_ASCII = bytes(c for c in range(128) if not (chr(c).isalnum() or chr(c) == "_"))
_ASCII_SEPARATOR_BYTES = bytes.maketrans(_NOT_WORD_ASCII, b" " * len(_NOT_WORD_ASCII))
# The combining marks NFKD leaves after the letters of Latin, Greek and Cyrillic script.
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed; `column` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column


def fold(text: str) -> str:
    """Lower case without accents: what queries and stories are compared as."""
    text = text.casefold()
    if not text.isascii():
        # replaced after NFKD, which makes some of those characters (ŀ into l·), and
        # casefolded again: NFKD turns some letters into upper-case ones (𝙰 into A)
        text = unicodedata.normalize("NFKD", text)
        for character, replacement in _LOOKALIKE_PAIRS:
            if character in text:
                text = text.replace(character, replacement)
        if text.isascii():  # the usual end for Latin script: accents and quotes are gone
            return text.lower()
        text = _MARKS.sub("", text).casefold()
    return text


def words(text: str) -> list[str]:
    """The folded words of `text`, in order."""
    return split_folded(fold(text))


def split_folded(folded: str) -> list[str]:
    """The words of folded text: runs of \\w (ASCII text is split by str.split, faster)."""
    if folded.isascii():
        return folded.encode().translate(_ASCII_SEPARATOR_BYTES).decode().split()
    return _WORD.findall(folded)


# ---------------------------------------------------------------- the syntax tree


@dataclass(frozen=True, slots=True)
class Term:
    """A word, a wildcard (`prefix`: its last word is a prefix) or a phrase, in some fields."""

    words: tuple[str, ...]
    prefix: bool = False
    fields: tuple[str, ...] = _DEFAULT_FIELDS
    source: str = field(default="", compare=False)  # as written, for explanations


@dataclass(frozen=True, slots=True)
class Near:
    """Any of `left` within `distance` words of any of `right`."""

    left: tuple[Term, ...]
    right: tuple[Term, ...]
    distance: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


Node = Term | Near | Not | And | Or


# ---------------------------------------------------------------- tokens

_OPERATORS = ("AND", "OR", "NOT")
_NEAR = re.compile(r"NEAR/(\d+)$")
_BARE_END = set(' \t\r\n()"')


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(", ")", "AND", "OR", "NOT", "NEAR", "phrase", "word", "field"
    value: str
    column: int
    number: int = 0  # NEAR's distance


def _tokens(query: str) -> Iterator[_Token]:
    i = 0
    while i < len(query):
        char = query[i]
        column = i + 1
        if char.isspace():
            i += 1
        elif char in "()":
            yield _Token(char, char, column)
            i += 1
        elif char == '"':
            i, text = _phrase(query, i)
            yield _Token("phrase", text, column)
        else:
            start = i
            while i < len(query) and query[i] not in _BARE_END:
                if query[i] == ":" and query[start:i].lower() in FIELDS:
                    break
                i += 1
            word = query[start:i]
            if i < len(query) and query[i] == ":":
                yield _Token("field", word.lower(), column)
                i += 1
                if i >= len(query) or query[i].isspace():
                    raise QuerySyntaxError(f"{word}: needs a term right after it", column)
            elif word in _OPERATORS:
                yield _Token(word, word, column)
            elif near := _NEAR.match(word):
                yield _Token("NEAR", word, column, int(near.group(1)))
            elif word.startswith("NEAR"):
                raise QuerySyntaxError(f"{word!r}: write NEAR/n with a number of words", column)
            else:
                if ":" in word:
                    name = word.split(":", 1)[0]
                    raise QuerySyntaxError(
                        f"unknown field {name!r} (fields: {', '.join(FIELDS)}; quote a "
                        "term that has a colon)",
                        column,
                    )
                yield _Token("word", word, column)


def _phrase(query: str, start: int) -> tuple[int, str]:
    """The text of the quoted phrase opening at `start`, and the index after it."""
    out = []
    i = start + 1
    while i < len(query):
        char = query[i]
        if char == "\\" and i + 1 < len(query) and query[i + 1] in '"\\':
            out.append(query[i + 1])
            i += 2
        elif char == '"':
            return i + 1, "".join(out)
        else:
            out.append(char)
            i += 1
    raise QuerySyntaxError("a quoted phrase is not closed", start + 1)


def quote(phrase: str) -> str:
    """`phrase` written as a query phrase (the inverse of how the parser reads one)."""
    return '"' + phrase.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------- the parser


class _Parser:
    """Recursive descent: or := and (OR and)*; and := near (AND? near)*;
    near := unary (NEAR/n unary)*; unary := NOT unary | field? (term | "(" or ")")."""

    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = list(_tokens(query))
        self.at = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def end_column(self) -> int:
        return len(self.query.rstrip()) + 1

    def parse(self) -> Node:
        if not self.tokens:
            raise QuerySyntaxError("the query is empty", 1)
        node = self.parse_or(_DEFAULT_FIELDS)
        extra = self.peek()
        if extra is not None:
            raise QuerySyntaxError(f"unexpected {extra.value!r}", extra.column)
        return node

    def parse_or(self, fields: tuple[str, ...]) -> Node:
        operands = [self.parse_and(fields)]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.take()
            operands.append(self.parse_and(fields))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def parse_and(self, fields: tuple[str, ...]) -> Node:
        operands = [self.parse_near(fields)]
        while (token := self.peek()) is not None and token.kind not in ("OR", ")"):
            if token.kind == "AND":
                self.take()
            operands.append(self.parse_near(fields))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def parse_near(self, fields: tuple[str, ...]) -> Node:
        node = self.parse_unary(fields)
        while (token := self.peek()) is not None and token.kind == "NEAR":
            self.take()
            left, right = _alternatives(node), _alternatives(self.parse_unary(fields))
            if left is None or right is None:
                raise QuerySyntaxError(
                    f"{token.value} joins terms, phrases or (a OR b) groups of them", token.column
                )
            node = Near(left, right, token.number)
        return node

    def parse_unary(self, fields: tuple[str, ...]) -> Node:
        token = self.peek()
        if token is None:
            raise QuerySyntaxError("the query ends where a term was expected", self.end_column())
        self.take()
        if token.kind == "NOT":
            return Not(self.parse_unary(fields))
        if token.kind == "field":
            inner = self.peek()
            if inner is None or inner.kind not in ("(", "word", "phrase"):
                raise QuerySyntaxError(f"{token.value}: needs a term right after it", token.column)
            return self.parse_unary((token.value,))
        if token.kind == "(":
            node = self.parse_or(fields)
            close = self.peek()
            if close is None or close.kind != ")":
                raise QuerySyntaxError("'(' is not closed", token.column)
            self.take()
            return node
        if token.kind in ("word", "phrase"):
            return _term(token, fields)
        raise QuerySyntaxError(f"unexpected {token.value!r}", token.column)


def _alternatives(node: Node) -> tuple[Term, ...] | None:
    """A term, or an OR of terms, as NEAR's operand; None for anything else."""
    if isinstance(node, Term):
        return (node,)
    if isinstance(node, Or) and all(isinstance(n, Term) for n in node.operands):
        return tuple(n for n in node.operands if isinstance(n, Term))
    return None


def _term(token: _Token, fields: tuple[str, ...]) -> Term:
    text = token.value
    prefix = token.kind == "word" and text.endswith("*")
    if prefix:
        text = text[:-1]
        if "*" in text:
            raise QuerySyntaxError("'*' may only end a word", token.column)
    elif token.kind == "word" and "*" in text:
        raise QuerySyntaxError("'*' may only end a word", token.column)
    found = tuple(words(text))
    if not found:
        what = "the phrase" if token.kind == "phrase" else repr(token.value)
        raise QuerySyntaxError(f"{what} has no letters or digits to match", token.column)
    if prefix and not _WORD.fullmatch(fold(text)[-1:] or "-"):
        raise QuerySyntaxError("'*' must follow a letter or digit", token.column)
    source = quote(token.value) if token.kind == "phrase" else token.value
    if fields != _DEFAULT_FIELDS:
        source = f"{fields[0]}:{source}"
    return Term(found, prefix, fields, source)


@lru_cache(maxsize=256)
def parse(query: str) -> Node:
    """The syntax tree of `query`; QuerySyntaxError says what is wrong and where (the column,
    and the line too in a query of several lines)."""
    try:
        return _Parser(query).parse()
    except QuerySyntaxError as exc:
        if "\n" not in query:
            raise
        before = query[: exc.column - 1]
        line = before.count("\n") + 1
        column = exc.column - (before.rfind("\n") + 1)
        error = QuerySyntaxError(exc.message, column)
        error.args = (f"line {line}, column {column}: {exc.message}",)
        raise error from None


def positive_terms(node: Node) -> list[Term]:
    """The terms whose presence can make the query match (those not under a NOT)."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Near):
        return [*node.left, *node.right]
    if isinstance(node, Not):
        return []
    return [term for operand in node.operands for term in positive_terms(operand)]


# ---------------------------------------------------------------- matching


class Document:
    """A story's fields, folded and split into words once and shared by every topic's query;
    look-ups are built when first needed. `memo` keeps the answers of the costlier tests
    (wildcards, phrases, NEAR) for the story, so that a term that several topics, or a match
    and its explanation, ask about is looked for once."""

    __slots__ = (
        "_folded",
        "_raw",
        "_sets",
        "_words",
        "both",
        "everything",
        "memo",
        "named",
        "spans",
        "text_folded",
        "title_folded",
        "vocab",
    )

    def __init__(self, title: str = "", text: str = "", outlet: str = "", url: str = "") -> None:
        self._raw = {"title": title, "text": text, "outlet": outlet, "url": url}
        # every query's first test reads all fields folded: they are folded at once, and
        # kept in attributes too, which the generated matchers read (folded(), all_folded()
        # and headline_and_text() are the same strings)
        self.title_folded = fold(title)
        self.text_folded = fold(text)
        outlet_folded, url_folded = fold(outlet), fold(url)
        self._folded = {"title": self.title_folded, "text": self.text_folded}
        self._folded |= {"outlet": outlet_folded, "url": url_folded}
        self.both = f"{self.title_folded}\n{self.text_folded}"
        self.everything = f"{self.both}\n{outlet_folded}\n{url_folded}"
        self._words: dict[str | tuple[str, ...], list[str]] = {}
        self._sets: dict[tuple[str, ...], frozenset[str]] = {}
        self.vocab: frozenset[str] | None = None  # vocabulary() of the headline and text
        self.memo: dict[int, bool] = {}
        self.named: dict[int, str] = {}  # wildcards with the words they matched
        self.spans: dict[int, list[Span]] = {}  # NEAR's searched terms' occurrences, by memo key

    def folded(self, name: str) -> str:
        """Field `name` folded (`lead`: its words, joined by spaces): what the regular
        expressions of phrases and wildcards search."""
        found = self._folded.get(name)
        if found is None:
            raw = self._raw.get(name)
            found = " ".join(self.words("lead")) if raw is None else fold(raw)
            self._folded[name] = found
        return found

    def all_folded(self) -> str:
        """Every field folded, in one string (also `everything`)."""
        return self.everything

    def headline_and_text(self) -> str:
        """The headline and the text folded, in one string, the headline first and then a
        line break (also `both`): a word, or a wildcard, is searched for in both fields at
        once, one search instead of two."""
        return self.both

    def headline_end(self) -> int:
        """Where the headline ends in headline_and_text()."""
        return len(self._folded["title"])

    def words(self, name: str) -> list[str]:
        found = self._words.get(name)
        if found is None:
            if name == "lead":
                text = self.folded("text").lstrip()
                first = text[: text.find("\n")] if "\n" in text else text
                found = self.words("title") + split_folded(first)[:LEAD_WORDS]
            else:
                found = split_folded(self.folded(name))
            self._words[name] = found
        return found

    def words_of(self, fields: tuple[str, ...]) -> list[str]:
        """The words of `fields`, one field after the other (split as one string)."""
        if len(fields) == 1:
            return self.words(fields[0])
        found = self._words.get(fields)
        if found is None:
            joined = self.both if fields == _DEFAULT_FIELDS else "\n".join(map(self.folded, fields))
            found = self._words[fields] = split_folded(joined)
        return found

    def split_already(self, fields: tuple[str, ...]) -> frozenset[str] | None:
        """vocabulary(fields) if a query has built it already, else None."""
        return self._sets.get(fields)

    def vocabulary(self, fields: tuple[str, ...]) -> frozenset[str]:
        """The words of any of `fields` (one set for a term's fields: one look-up a term)."""
        found = self._sets.get(fields)
        if found is None:
            found = self._sets[fields] = frozenset(self.words_of(fields))
            if fields == _DEFAULT_FIELDS:
                self.vocab = found
        return found


Span = tuple[int, int]  # where a term occurs in a folded field: its first and end character
# NEAR's terms on one side: each with what a story must hold for it (_needs) and the pattern
# that finds it
Alternatives = tuple[tuple[Term, tuple[str, ...], str | None, re.Pattern[str]], ...]


def _occurrences(term: Term, pattern: re.Pattern[str], text: str, headline_end: int) -> list[Span]:
    """Every match of `pattern` in `text`, overlapping ones too ("a a" twice in "a a a";
    one word's matches cannot overlap), but for a phrase from the headline into the text
    (across `headline_end`, see _near_in)."""
    if len(term.words) == 1:
        return [found.span() for found in pattern.finditer(text)]
    out = []
    found = pattern.search(text)
    while found is not None:
        if not found.start() < headline_end < found.end():
            out.append(found.span())
        found = pattern.search(text, found.start() + 1)
    return out


def _within(text: str, start: int, end: int, distance: int) -> bool:
    """Whether text[start:end], between two occurrences, holds at most `distance` words. It
    starts and ends with non-word characters, so k words take at least 2k + 1 of them."""
    if end - start < 2 * distance + 3:
        return True
    if text.isascii():  # its words split as split_folded does, at C speed
        gap = text[start:end].encode().translate(_ASCII_SEPARATOR_BYTES)
        return len(gap.split(None, distance)) <= distance
    return next(itertools.islice(_WORD.finditer(text, start, end), distance, None), None) is None


def _near(
    node: Near,
    doc: Document,
    lefts_: Alternatives,
    rights_: Alternatives,
    shared: bool,
) -> bool:
    """Whether a left and a right alternative occur at most `distance` words apart, in some
    field. An alternative the story cannot hold (_needs) is passed over. (When every
    alternative is of the headline and text, _near_together.)"""
    folded = doc.all_folded()
    have = doc.vocabulary(_DEFAULT_FIELDS) if shared else frozenset[str]()
    left = [(t, p) for t, w, s, p in lefts_ if have.issuperset(w) and (s is None or s in folded)]
    right = [(t, p) for t, w, s, p in rights_ if have.issuperset(w) and (s is None or s in folded)]
    for name in dict.fromkeys(f for term, _ in left for f in term.fields):
        text = doc.folded(name)
        here = [s for t, p in left if name in t.fields for s in _occurrences(t, p, text, -1)]
        there = [s for t, p in right if name in t.fields for s in _occurrences(t, p, text, -1)]
        if _near_in(text, here, there, node.distance, -1):
            return True
    return False


@dataclass(frozen=True, slots=True)
class _Side:
    """One side of a NEAR whose terms are all of the same fields (_near_together): its plain
    words (looked up in the story's set of words) and its other terms, each with its memo
    key (Document.memo), the words a story must hold for it (_needs), whether it is one word
    (its matches cannot overlap) and its pattern."""

    words: dict[str, re.Pattern[str]]
    searched: tuple[tuple[int, tuple[str, ...], str | None, bool, Term, re.Pattern[str]], ...]
    shared: bool  # _needs names whole words, looked up in the story's set of words

    @classmethod
    def of(cls, terms: tuple[Term, ...], shared: bool) -> _Side:
        words: dict[str, re.Pattern[str]] = {}
        searched = []
        for term in terms:
            if _looked_up(term):
                words[term.words[0]] = term_pattern(term)
            else:
                whole, part = _needs(term, shared)
                single = len(term.words) == 1
                searched.append((_memo_key(term), whole, part, single, term, term_pattern(term)))
        return cls(words, tuple(searched), shared)

    def occurrences(self, doc: Document, text: str, end: int) -> list[Span]:
        """Where its terms occur in `text`, the folded text of their fields (_near_together);
        what is found about a searched term is kept in the story's memo, where the matchers
        and the explanation read it (the same answer: whether it occurs in its fields), and
        where it occurs, for another NEAR that names it (always in the same text: a term's
        key includes its fields)."""
        found: list[Span] = []
        have = (doc.vocab or doc.vocabulary(_DEFAULT_FIELDS)) if self.shared else frozenset[str]()
        for word in have.intersection(self.words):
            found += [occurrence.span() for occurrence in self.words[word].finditer(text)]
        memo = doc.memo
        folded = doc.everything
        known_spans = doc.spans
        for key, whole, part, single, term, pattern in self.searched:
            known = memo.get(key)
            if known is None:
                if (part is not None and part not in folded) or (
                    whole and not have.issuperset(whole)
                ):
                    memo[key] = False
                    continue
            elif not known:
                continue
            spans = known_spans.get(key)
            if spans is None:
                spans = known_spans[key] = (
                    [occurrence.span() for occurrence in pattern.finditer(text)]
                    if single
                    else _occurrences(term, pattern, text, end)
                )
                memo[key] = bool(spans)
            found += spans
        return found


def _near_together(node: Near, doc: Document, left: _Side, right: _Side) -> bool:
    """_near when every alternative is of the same fields: the headline and text (searched
    at once) or one field."""
    fields = node.left[0].fields
    if fields == _DEFAULT_FIELDS:
        text, end = doc.both, doc.headline_end()
    else:
        text, end = doc.folded(fields[0]), -1
    lefts = left.occurrences(doc, text, end)
    if not lefts:
        return False
    rights = right.occurrences(doc, text, end)
    return bool(rights) and _near_in(text, lefts, rights, node.distance, end)


def _near_in(
    text: str, left: list[Span], right: list[Span], distance: int, headline_end: int
) -> bool:
    """Whether a left and a right term occur at most `distance` words apart in `text`. For
    each right occurrence only the nearest left ones are measured: the one that ends last
    before it, the one that starts first after it, and any overlapping. In the headline and
    text together (Document.headline_and_text), occurrences either side of `headline_end`
    are in different fields and never measured together (-1: one field)."""
    if not left:
        return False
    if len(left) * len(right) <= FEW_PAIRS:
        return _near_pair(text, left, right, distance, headline_end)
    lefts = sorted(left)
    ends = sorted(end for _, end in lefts)
    furthest = list(itertools.accumulate((end for _, end in lefts), max))
    for r_start, r_end in right:
        in_text = r_start > headline_end
        after = bisect_left(lefts, (r_end,))  # lefts[:after] start before r_end
        if after and furthest[after - 1] > r_start:
            return True  # they overlap (so they are in one field)
        before = bisect_right(ends, r_start)
        if (
            before
            and (ends[before - 1] > headline_end) == in_text
            and _within(text, ends[before - 1], r_start, distance)
        ):
            return True
        if (
            after < len(lefts)
            and (lefts[after][0] > headline_end) == in_text
            and _within(text, r_end, lefts[after][0], distance)
        ):
            return True
    return False


FEW_PAIRS = 16  # at most this many pairs of occurrences: each pair measured (_near_pair)


def _near_pair(
    text: str, left: list[Span], right: list[Span], distance: int, headline_end: int
) -> bool:
    """_near_in by measuring every pair: cheaper than sorting when there are few (most
    stories name each term once or twice). The same answer: a pair further apart than the
    nearest ones has at least as many words between."""
    for r_start, r_end in right:
        in_text = r_start > headline_end
        for l_start, l_end in left:
            if l_start < r_end and l_end > r_start:
                return True  # they overlap (so they are in one field)
            if l_end <= r_start:
                start, end, same_field = l_end, r_start, (l_end > headline_end) == in_text
            else:
                start, end, same_field = r_end, l_start, (l_start > headline_end) == in_text
            if same_field and _within(text, start, end, distance):
                return True
    return False


Matcher = Callable[[Document], bool]
_memo_keys = itertools.count()  # one per costly test, for Document.memo


@dataclass(frozen=True, slots=True)
class _Remembered:
    """A costly test (NEAR) whose answer a story keeps in its memo, under `key`; the
    generated matchers read and write the memo themselves."""

    test: Matcher
    key: int = field(default_factory=lambda: next(_memo_keys))


@lru_cache(maxsize=1024)
def _words_from(prefix: str) -> re.Pattern[str]:
    """The whole words that start with `prefix` (a folded word)."""
    return term_pattern(Term((prefix,), prefix=True))


def term_pattern(term: Term) -> re.Pattern[str]:
    """The regular expression that finds `term` in folded text. Words are the runs of \\w, so
    a phrase is its words with non-word characters between them, and a whole word one that no
    word character touches: the same answer as comparing the lists of words, without them."""
    first, *rest = (re.escape(w) for w in term.words)
    # "(?<!\w)first" as a lookbehind after the first word, not before it: a pattern that
    # opens with a literal is searched for with a fast scan of the text (many times faster)
    body = rf"{first}(?<=(?<!\w){first})" + "".join(rf"\W+{w}" for w in rest)
    return re.compile(rf"{body}\w*" if term.prefix else rf"{body}(?!\w)")


def _looked_up(term: Term) -> bool:
    """Whether `term` is tested in a set of the story's words: a plain word in the headline
    and text. Other fields' words are searched for like phrases: rarer in queries, they are
    not worth splitting the field into a set."""
    return len(term.words) == 1 and not term.prefix and term.fields == _DEFAULT_FIELDS


@lru_cache(maxsize=4096)
def _memo_key(term: Term) -> int:
    """Where a searched term's answer is kept in Document.memo: the same key in every query,
    so that a term several topics name is searched for once a story."""
    return next(_memo_keys)


# The fields whose words are all words of the headline and the text (Document.vocabulary)
_VOCABULARY_FIELDS = frozenset(("title", "text", "lead"))


def _needs(term: Term, shared: bool) -> tuple[tuple[str, ...], str | None]:
    """What a story must hold for `term` to occur: words of its headline and text, and a
    substring of all its fields folded. A set look-up is many times cheaper than a substring
    test, so whole words are looked up when the query splits the story into words anyway
    (`shared`); else the term's longest word is the substring."""
    if not shared or not _VOCABULARY_FIELDS.issuperset(term.fields):
        return (), max(term.words, key=len)
    if term.prefix:
        return term.words[:-1], term.words[-1]
    return term.words, None


def _uses_vocabulary(node: Node) -> bool:
    """Whether the matcher of `node` splits the story into its set of words (_looked_up)."""
    if isinstance(node, Term):
        return _looked_up(node)
    if isinstance(node, Near):
        return any(_looked_up(t) for t in (*node.left, *node.right))
    if isinstance(node, Not):
        return _uses_vocabulary(node.operand)
    return any(_uses_vocabulary(n) for n in node.operands)


@lru_cache(maxsize=1024)
def _near_test(node: Near, shared: bool) -> _Remembered:
    """The words-apart test of NEAR (the generated code tests that both sides occur first)."""
    lefts = tuple((t, *_needs(t, shared), term_pattern(t)) for t in node.left)
    rights = tuple((t, *_needs(t, shared), term_pattern(t)) for t in node.right)
    fields = {t.fields for t in (*node.left, *node.right)}
    if fields == {_DEFAULT_FIELDS} or (len(fields) == 1 and len(node.left[0].fields) == 1):
        left, right = _Side.of(node.left, shared), _Side.of(node.right, shared)
        return _Remembered(lambda doc: _near_together(node, doc, left, right))
    return _Remembered(lambda doc: _near(node, doc, lefts, rights, shared))


def _compile(node: Node, shared: bool) -> Matcher:
    """`node` as a function of a story: one generated Python expression (_Writer)."""
    writer = _Writer(shared)
    return cast(Matcher, writer.function(writer.holds(node)))


def _cost(node: Node) -> int:
    """How costly a part is to test, roughly: single words, other terms (a search), NEAR
    (occurrences measured); a group as its costliest part, so that a group of words is
    tried before a group with a NEAR in it (a story that lacks the words skips the NEAR)."""
    if isinstance(node, Term):
        return 0 if len(node.words) == 1 else 1
    if isinstance(node, Near):
        return 3
    if isinstance(node, Not):
        return _cost(node.operand)
    return max(map(_cost, node.operands))


def _cheap_first(operands: tuple[Node, ...]) -> tuple[Node, ...]:
    """The cheaper parts first: AND and OR stop at the first answer."""
    return tuple(sorted(operands, key=_cost))


Clue = tuple[str, bool]  # a word a story must hold, and whether it is a whole word (_clue)


def _clue(term: Term) -> Clue:
    """The longest word of `term`, and whether it is a whole word of the headline and text
    (then it can be looked up in the story's set of words; else it is a substring)."""
    at = max(range(len(term.words)), key=lambda i: len(term.words[i]))
    prefix = term.prefix and at == len(term.words) - 1
    return term.words[at], not prefix and _VOCABULARY_FIELDS.issuperset(term.fields)


def _clauses(node: Node) -> list[frozenset[Clue]] | None:
    """A necessary condition of `node` as clauses: each a set of words one of which must
    occur in the story's folded text. None: no condition (a NOT holds of most texts)."""
    if isinstance(node, Term):
        return [frozenset([_clue(node)])]
    if isinstance(node, Near):
        return [frozenset(map(_clue, node.left)), frozenset(map(_clue, node.right))]
    if isinstance(node, Not):
        return None
    found = [_clauses(operand) for operand in node.operands]
    if isinstance(node, And):
        return [clause for clauses in found if clauses for clause in clauses] or None
    if any(clauses is None for clauses in found):
        return None
    return [frozenset(w for clauses in found if clauses for w in min(clauses, key=len))]


def _quick_test(tree: Node) -> tuple[str, str | None] | None:
    """The clauses of `tree` as expressions that are false when the query cannot match: as
    substring tests over all fields folded (`f`: C-speed `in`, no splitting into words), and,
    when some are whole words, with those looked up in the story's set of words (`V`), for a
    story that another query has split already (a set look-up is many times cheaper)."""
    clauses = _clauses(tree)
    if not clauses:
        return None
    # short words first: the common ones, so that a clause that holds stops early
    ordered = [sorted(c, key=lambda w: (len(w[0]), w[0])) for c in sorted(clauses, key=len)]
    substrings = " and ".join("(" + " or ".join(f"{w!r} in f" for w, _ in c) + ")" for c in ordered)
    if not any(whole for c in ordered for _, whole in c):
        return substrings, None
    looked_up = " and ".join(
        "("
        + " or ".join(
            f"{w!r} in V" if whole else f"{w!r} in f"
            for w, whole in sorted(c, key=lambda clue: not clue[1])
        )
        + ")"
        for c in ordered
    )
    return substrings, looked_up


@dataclass(frozen=True, slots=True)
class Query:
    """A compiled query: `matches(doc)`, and `explain(doc)` for the terms that made it."""

    source: str
    tree: Node
    matches: Matcher
    explainer: Explainer

    def explain(self, doc: Document) -> tuple[str, ...]:
        """The terms (as written) of the parts of the query that hold for `doc`, those
        under a NOT apart; each once."""
        return tuple(dict.fromkeys(self.explainer(doc) or ()))


Explainer = Callable[[Document], list[str] | None]  # the terms that made it hold, or None


WILDCARD_WORDS = 3  # words a wildcard matched, named in an explanation


@dataclass(frozen=True, slots=True)
class _Wildcard:
    """A wildcard as an explanation names it, kept per story (several parts of a query, or
    several topics, may name it)."""

    term: Term
    key: int = field(default_factory=lambda: next(_memo_keys))
    pattern: re.Pattern[str] = field(init=False)
    found_key: int = field(init=False)  # the term's answer in Document.memo

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", term_pattern(self.term))
        object.__setattr__(self, "found_key", _memo_key(self.term))

    def __call__(self, doc: Document) -> str | None:
        """The wildcard named with its words, or None when the story does not hold it (which
        the story's memo then remembers, for the matchers)."""
        found = doc.named.get(self.key)
        if found is None:
            if doc.memo.get(self.found_key) is False:
                return None
            found = _named(self.term, self.pattern, doc, self.found_key)
            doc.memo[self.found_key] = found is not None
            if found is None:
                return None
            doc.named[self.key] = found
        return found


@lru_cache(maxsize=4096)
def _wildcard(term: Term, source: str) -> _Wildcard:
    """Shared by equal terms written alike (terms compare without `source`: `Chip*` and
    `chip*` are one term, but each explanation names it as its query wrote it)."""
    return _Wildcard(term)


def _named(term: Term, pattern: re.Pattern[str], doc: Document, key: int) -> str | None:
    """A one-word wildcard with the words it matched, `chip* (chips, chipmakers)`, each
    field's sorted, the headline's first; None when none of its fields has one. Where a NEAR
    has found its occurrences already (Document.spans under its memo key `key`), their words."""
    if term.fields == _DEFAULT_FIELDS:  # both fields searched at once (a word spans no line)
        both = doc.both
        spans = doc.spans.get(key)  # found by NEAR in the same text, with the same pattern
        found = set(pattern.findall(both)) if spans is None else {both[s:e] for s, e in spans}
        if len(found) < 2:  # one word (the usual case) or none: no order to find
            return f"{term.source} ({found.pop()})" if found else None
        if spans is None:
            headline = set(pattern.findall(doc.folded("title")))
        else:  # a word ends before the line break after the headline, or after it
            headline = {both[s:e] for s, e in spans if e <= doc.headline_end()}
        ordered = [*sorted(headline), *sorted(found - headline)]
    else:
        words: dict[str, None] = {}
        for name in term.fields:
            if in_field := pattern.findall(doc.folded(name)):
                words.update(dict.fromkeys(sorted(set(in_field))))
        if not words:
            return None
        ordered = list(words)
    named = ordered[:WILDCARD_WORDS] + (["…"] if len(ordered) > WILDCARD_WORDS else [])
    return f"{term.source} ({', '.join(named)})"


NESTING = 12  # deeper groups become functions of their own (Python limits nesting)


class _Writer:
    """Writes a query as Python source: one expression, compiled once, in which the query's
    AND, OR and NOT are Python's own `and`, `or` and `not`, and a plain word `"word" in v0`
    (v0: the story's words in the term's fields). Evaluating it costs a few bytecodes per
    term instead of a call per node; wildcards and phrases are a regular expression's
    search and NEAR a call (_near_test), whose answers the story remembers. The source is
    built from repr() of folded words and from generated names only."""

    def __init__(self, shared: bool) -> None:
        self.shared = shared  # the story's words are split into a set anyway (_needs)
        self.names: dict[str, object] = {}
        self.vocabularies: dict[tuple[str, ...], str] = {}
        self.texts: dict[str, str] = {}
        self.depth = 0
        self.locals = 0

    def name(self, value: object, kind: str) -> str:
        """A name for `value` in the generated function's globals."""
        name = f"{kind}{len(self.names)}"
        self.names[name] = value
        return name

    def vocabulary(self, fields: tuple[str, ...]) -> str:
        return self.vocabularies.setdefault(fields, f"v{len(self.vocabularies)}")

    def function(
        self, body: str, quick: tuple[str, str | None] | None = None
    ) -> Callable[[Document], object]:
        """`body` as a function of `doc`; `quick` (_quick_test) decides first, before the
        story is split into words."""
        lines = ["def generated(doc):", "    f = doc.everything", "    m = doc.memo"]
        if quick is not None and quick[1] is not None:
            lines.append("    V = doc.vocab")
            lines.append(f"    if not (({quick[1]}) if V is not None else ({quick[0]})):")
            lines.append("        return False")
        elif quick is not None:
            lines.append(f"    if not ({quick[0]}):\n        return False")
        lines += [
            f"    {v} = doc.vocab or doc.vocabulary({f!r})"
            if f == _DEFAULT_FIELDS
            else f"    {v} = doc.vocabulary({f!r})"
            for f, v in self.vocabularies.items()
        ]
        lines += [
            f"    {v} = doc.both"
            if n == "+"
            else f"    {v} = doc.{n}_folded"
            if n in _DEFAULT_FIELDS
            else f"    {v} = None"
            for n, v in self.texts.items()
        ]
        lines.append(f"    return {body}")
        exec("\n".join(lines), self.names)  # the source above: repr()s and generated names
        return cast(Callable[[Document], object], self.names["generated"])

    def holds(self, node: Node) -> str:
        """An expression that is true when `node` holds for `doc`."""
        if self.depth > NESTING and not isinstance(node, Term):
            return f"{self.name(_compile(node, self.shared), 'g')}(doc)"
        self.depth += 1
        try:
            return self._holds(node)
        finally:
            self.depth -= 1

    def _holds(self, node: Node) -> str:
        if isinstance(node, Term):
            if _looked_up(node):
                return f"({node.words[0]!r} in {self.vocabulary(node.fields)})"
            return self.searched(node)
        if isinstance(node, Near):  # the memo's answer; else both sides: most stories lack one
            test = _near_test(node, self.shared)
            key, name = test.key, self.name(test.test, "t")
            sides = self.sides(node)
            return f"(m[{key}] if {key} in m else ({sides} and m.setdefault({key}, {name}(doc))))"
        if isinstance(node, Not):
            return f"(not {self.holds(node.operand)})"
        if isinstance(node, And):
            ordered = _cheap_first(node.operands)
            parts = [self.holds(n) for n in ordered]
            return "(" + " and ".join(self.sides_first(ordered, parts)) + ")"
        # OR: the plain words of each set of fields become one set, tested first
        plain: dict[tuple[str, ...], set[str]] = {}
        rest = []
        for operand in node.operands:
            if isinstance(operand, Term) and _looked_up(operand):
                plain.setdefault(operand.fields, set()).update(operand.words)
            else:
                rest.append(operand)
        parts = [
            f"not {self.vocabulary(fields)}.isdisjoint({self.name(frozenset(words), 'w')})"
            for fields, words in plain.items()
        ]
        parts += [self.holds(operand) for operand in _cheap_first(tuple(rest))]
        return "(" + " or ".join(parts) + ")"

    def may_hold(self, node: Near) -> str:
        """The memo's answer for NEAR `node`; else whether both its sides occur (cheap word
        tests, where measuring how far apart they are is not)."""
        key = _near_test(node, self.shared).key
        return f"(m[{key}] if {key} in m else ({self.sides(node)}))"

    def sides(self, node: Near) -> str:
        """Whether both sides of NEAR `node` occur."""
        return f"{self.holds(Or(node.left))} and {self.holds(Or(node.right))}"

    def sides_first(
        self, operands: tuple[Node, ...], parts: list[str], failed: bool = False
    ) -> list[str]:
        """`parts`, the tests of an AND's `operands` (cheap first), with the sides of every
        NEAR among them tested before the first NEAR is measured: a NEAR measured is wasted
        when another NEAR's words are missing. `failed`: the parts say that their operand
        fails (the explanation's), and so do the sides' tests."""
        nears = [i for i, operand in enumerate(operands) if isinstance(operand, Near)]
        if len(nears) < 2:
            return parts
        sides = [self.may_hold(cast(Near, operands[i])) for i in nears]
        if failed:
            sides = [f"not {side}" for side in sides]
        return [*parts[: nears[0]], *sides, *parts[nears[0] :]]

    def searched(self, term: Term) -> str:
        """The memo's answer for `term`; else whether the story may hold it (_needs: most do
        not) and its pattern is found in one of its fields, kept."""
        key = _memo_key(term)
        pattern = self.name(term_pattern(term), "p")
        if len(term.words) == 1 and term.fields == _DEFAULT_FIELDS:  # a word spans no line
            found = f"{pattern}.search({self.text('+')}) is not None"
        else:
            found = " or ".join(
                f"{pattern}.search({self.text(n)}) is not None" for n in term.fields
            )
        whole, part = _needs(term, self.shared)
        tests = [f"{w!r} in {self.vocabulary(_DEFAULT_FIELDS)}" for w in whole]
        tests += [f"{part!r} in f"] if part is not None else []
        needs = " and ".join(tests)
        return f"(m[{key}] if {key} in m else m.setdefault({key}, {needs} and ({found})))"

    def text(self, name: str) -> str:
        """Field `name` folded: the headline and the text are bound once per call."""
        if name == "+":
            return self.texts.setdefault(name, "x_both")
        if name in _DEFAULT_FIELDS:
            return self.texts.setdefault(name, f"x_{name}")
        local = self.texts.setdefault(name, f"x_{name}")  # folded when first needed
        return f"({local} if {local} is not None else ({local} := doc.folded({name!r})))"

    def terms(self, node: Node) -> str:
        """An expression whose value is the list of the terms that made `node` hold, or None
        when it does not hold: a part's terms count when every group above it holds. Each
        part is evaluated once, its list kept in a local (`r0`...) for the group above."""
        if self.depth > NESTING and not isinstance(node, Term):
            return f"{self.name(_explainer(node, self.shared), 'e')}(doc)"
        self.depth += 1
        try:
            return self._terms(node)
        finally:
            self.depth -= 1

    def local(self) -> str:
        """A fresh local of the generated function, for one part's list of terms."""
        self.locals += 1
        return f"r{self.locals}"

    def _terms(self, node: Node) -> str:
        if isinstance(node, Term):
            if _is_wildcard(node):  # named if it holds, None if not: one test
                return f"(None if {self.unnamed(node)} else [n])"
            return f"([{node.source!r}] if {self.holds(node)} else None)"
        if isinstance(node, Near):
            named = ", ".join(
                f"*{self.present(run)}"
                if isinstance(run, tuple)
                else f"*(() if {self.unnamed(run)} else (n,))"
                if _is_wildcard(run)
                else f"*(({run.source!r},) if {self.holds(run)} else ())"
                for run in _plain_runs((*node.left, *node.right))
            )
            return f"([{named}] if {self.holds(node)} else None)"
        if isinstance(node, Not):
            return f"(None if {self.holds(node.operand)} else [])"
        if isinstance(node, And):  # it holds when no part fails; the cheap parts tried first
            names = [self.local() for _ in node.operands]
            kept = [
                f"({r} := {self.terms(n)}) is None"
                for r, n in zip(names, node.operands, strict=True)
            ]
            order = sorted(range(len(node.operands)), key=lambda i: _cost(node.operands[i]))
            ordered = tuple(node.operands[i] for i in order)
            failed = " or ".join(self.sides_first(ordered, [kept[i] for i in order], True))
            found = ", ".join(f"*{r}" for r in names)
        else:  # it holds when some part does; every part asked, for their terms
            parts = [
                f"({self.present(run)} or None)" if isinstance(run, tuple) else self.terms(run)
                for run in _plain_runs(node.operands)
            ]
            names = [self.local() for _ in parts]
            failed = " & ".join(
                f"(({r} := {p}) is None)" for r, p in zip(names, parts, strict=True)
            )
            found = ", ".join(f"*({r} or ())" for r in names)
        return f"(None if {failed} else [{found}])"

    def present(self, run: tuple[Term, ...]) -> str:
        """The terms of `run` (plain words of the headline and text) that the story holds, in
        order: one comprehension over the run, skipped when the story has none of them."""
        pairs = self.name(tuple((t.words[0], t.source) for t in run), "w")
        words = self.name(frozenset(t.words[0] for t in run), "w")
        vocabulary = self.vocabulary(_DEFAULT_FIELDS)
        return (
            f"([] if {vocabulary}.isdisjoint({words}) else "
            f"[s for w, s in {pairs} if w in {vocabulary}])"
        )

    def unnamed(self, term: Term) -> str:
        """True when the story does not hold the one-word wildcard `term` (the memo's answer,
        or its word not even a substring); else its name, with the words it matched, is in
        `n` (_Wildcard)."""
        key = _memo_key(term)
        named = f"{self.name(_wildcard(term, term.source), 'T')}(doc)"
        absent = f"({term.words[0]!r} not in f and not m.setdefault({key}, False))"
        return f"((not m[{key}] if {key} in m else {absent}) or (n := {named}) is None)"


def _is_wildcard(term: Term) -> bool:
    """A one-word wildcard: an explanation names the words it matched."""
    return term.prefix and len(term.words) == 1


_N = TypeVar("_N", bound=Node)


def _plain_runs(nodes: tuple[_N, ...]) -> Iterator[_N | tuple[Term, ...]]:
    """`nodes` in order, runs of two or more plain words (_looked_up) gathered in tuples."""
    run: list[_N] = []
    for node in (*nodes, None):
        if isinstance(node, Term) and _looked_up(node):
            run.append(node)
            continue
        if len(run) > 1:
            yield tuple(cast(list[Term], run))
        else:
            yield from run
        run = []
        if node is not None:
            yield node


def _explainer(node: Node, shared: bool) -> Explainer:
    """The terms that made `node` hold, or None (run on matches only: by then the story
    remembers the answers of the costlier tests)."""
    writer = _Writer(shared)
    return cast(Explainer, writer.function(writer.terms(node)))


@lru_cache(maxsize=256)
def compile_query(query: str) -> Query:
    """Parse and compile once (per process): topic rules travel to the workers as text."""
    tree = parse(query)
    shared = _uses_vocabulary(tree)
    writer = _Writer(shared)
    matches = cast(Matcher, writer.function(writer.holds(tree), _quick_test(tree)))
    return Query(query, tree, matches, _explainer(tree, shared))


def literal_terms(query: str) -> list[str]:
    """The words and phrases a query names, as plain text (wildcards without their star)."""
    return [" ".join(t.words) for t in positive_terms(parse(query))]
