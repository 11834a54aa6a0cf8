"""The compiled query matcher (generated code, regular expressions over folded text, NEAR
measured in characters) against the plain definition: the story split into lists of words,
a phrase its words next to each other, NEAR counted in word positions. Any query and text
from a small vocabulary, so that phrases, wildcards, NEAR and fields often hit and often
nearly hit."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.query import (
    LEAD_WORDS,
    And,
    Document,
    Near,
    Node,
    Not,
    Or,
    QuerySyntaxError,
    Term,
    compile_query,
    fold,
    split_folded,
    words,
)
from monitor.core.topics import TopicRule, match_topics

VOCABULARY = ("a", "b", "ab", "ba", "é")
SEPARATORS = (" ", " ", "-", ", ", "\n", "\n\n", ". ", " — ", "’")

Fields = dict[str, list[str]]
Span = tuple[int, int]


def _fields(title: str, text: str, outlet: str) -> Fields:
    """Each field's words, as the documentation defines them."""
    first = fold(text).lstrip().split("\n", 1)[0]
    return {
        "title": words(title),
        "text": words(text),
        "outlet": words(outlet),
        "url": [],
        "lead": words(title) + split_folded(first)[:LEAD_WORDS],
    }


def _spans(term: Term, tokens: list[str]) -> list[Span]:
    *head, last = term.words
    out = []
    for start in range(len(tokens) - len(head)):
        end = start + len(head)
        if tokens[start:end] == head and (
            tokens[end].startswith(last) if term.prefix else tokens[end] == last
        ):
            out.append((start, end))
    return out


def _near(node: Near, fields: Fields) -> bool:
    for name in {f for t in node.left for f in t.fields}:
        lefts = [s for t in node.left if name in t.fields for s in _spans(t, fields[name])]
        rights = [s for t in node.right if name in t.fields for s in _spans(t, fields[name])]
        for l_start, l_end in lefts:
            for r_start, r_end in rights:
                gap = r_start - l_end - 1 if r_start > l_end else l_start - r_end - 1
                if gap <= node.distance:
                    return True
    return False


def _holds(node: Node, fields: Fields) -> bool:
    if isinstance(node, Term):
        return any(_spans(node, fields[name]) for name in node.fields)
    if isinstance(node, Near):
        return _near(node, fields)
    if isinstance(node, Not):
        return not _holds(node.operand, fields)
    if isinstance(node, And):
        return all(_holds(n, fields) for n in node.operands)
    assert isinstance(node, Or)
    return any(_holds(n, fields) for n in node.operands)


def _named(term: Term, fields: Fields) -> str:
    if not term.prefix or len(term.words) > 1:
        return term.source
    found: dict[str, None] = {}
    for name in term.fields:
        found |= dict.fromkeys(sorted({w for w in fields[name] if w.startswith(term.words[0])}))
    named = list(found)[:3] + (["…"] if len(found) > 3 else [])
    return f"{term.source} ({', '.join(named)})"


def _terms(node: Node, fields: Fields) -> list[str] | None:
    """The terms of the parts that hold, in the query's order; None if `node` does not."""
    if not _holds(node, fields):
        return None
    if isinstance(node, Term):
        return [_named(node, fields)]
    if isinstance(node, Near):
        terms = (*node.left, *node.right)
        return [_named(t, fields) for t in terms if _holds(t, fields)]
    if isinstance(node, Not):
        return []
    assert isinstance(node, And | Or)
    found = [_terms(n, fields) for n in node.operands]
    return [t for terms in found if terms is not None for t in terms]


def _term() -> st.SearchStrategy[str]:
    word = st.sampled_from(VOCABULARY)
    phrase = st.lists(word, min_size=2, max_size=3).map(" ".join)
    written = st.one_of(
        word,
        word.map(lambda w: w + "*"),
        phrase.map(lambda p: f'"{p}"'),
        phrase.map(lambda p: f'"{p}*"'),
    )
    field = st.sampled_from(["", "", "", "title:", "text:", "lead:", "outlet:"])
    return st.tuples(field, written).map("".join)


def _side() -> st.SearchStrategy[str]:
    group = st.lists(_term(), min_size=2, max_size=3).map(lambda t: f"({' OR '.join(t)})")
    return st.one_of(_term(), group)


def _queries() -> st.SearchStrategy[str]:
    near = st.tuples(_side(), st.integers(0, 4), _side()).map(
        lambda t: f"{t[0]} NEAR/{t[1]} {t[2]}"
    )
    leaf = st.one_of(_term(), near)
    return st.recursive(
        leaf,
        lambda sub: st.one_of(
            sub.map(lambda q: f"NOT {q}"),
            st.tuples(
                st.sampled_from([" AND ", " OR "]), st.lists(sub, min_size=2, max_size=3)
            ).map(lambda t: f"({t[0].join(t[1])})"),
        ),
        max_leaves=6,
    )


def _texts(most: int) -> st.SearchStrategy[str]:
    word = st.sampled_from([*VOCABULARY, "AB", "Ab"])
    piece = st.tuples(word, st.sampled_from(SEPARATORS)).map("".join)
    return st.lists(piece, max_size=most).map("".join)


@settings(max_examples=400, deadline=None)
@given(_queries(), _texts(6), _texts(40), _texts(3))
def test_the_compiled_matcher_agrees_with_the_definition(
    query: str, title: str, text: str, outlet: str
) -> None:
    try:
        compiled = compile_query(query)
    except QuerySyntaxError:
        return
    fields = _fields(title, text, outlet)
    doc = Document(title, text, outlet)
    expected = _terms(compiled.tree, fields)
    assert compiled.matches(doc) is (expected is not None), query
    if expected is not None:
        assert compiled.explain(doc) == tuple(dict.fromkeys(expected)), query


@settings(max_examples=300, deadline=None)
@given(_side(), st.integers(0, 3), _side(), _texts(25))
def test_near_counts_the_words_between_as_the_definition(
    left: str, distance: int, right: str, text: str
) -> None:
    try:
        compiled = compile_query(f"{left} NEAR/{distance} {right}")
    except QuerySyntaxError:
        return
    expected = _holds(compiled.tree, _fields("", text, ""))
    assert compiled.matches(Document("", text)) is expected


def test_each_topic_names_a_shared_term_as_its_query_wrote_it() -> None:
    """One story, two topics with the same wildcard spelled differently: the term is
    searched for once, but each match is explained in its own query's words."""
    rules = [TopicRule("a", query="Chip* AND export*"), TopicRule("b", query="chip* OR GPU")]
    found = match_topics(rules, "Chipmakers face new export rules", "Chips, chip, GPUs")
    assert [(m.topic, m.terms) for m in found] == [
        ("a", ("Chip* (chipmakers, chip, chips)", "export* (export)")),
        ("b", ("chip* (chipmakers, chip, chips)",)),
    ]
