"""The topic query language (monitor.core.query): syntax, precedence, escaping, matching."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.query import (
    And,
    Document,
    Near,
    Not,
    Or,
    QuerySyntaxError,
    Term,
    compile_query,
    fold,
    parse,
    quote,
    split_folded,
    words,
)
from monitor.core.topics import TopicRule, explain, match_topics


def matches(query: str, title: str = "", text: str = "", outlet: str = "", url: str = "") -> bool:
    return compile_query(query).matches(Document(title, text, outlet, url))


# ---------------------------------------------------------------- golden matches

GOLDEN = [
    # (query, title, text, matches?)
    ("DeepSeek", "DeepSeek tops the chart", "", True),
    ("DeepSeek", "", "deepseek's assistant", True),  # any case; a possessive is a word end
    ("DeepSeek", "DeepSeeking answers", "", False),  # whole words
    ("chip*", "", "Chipmakers fell", True),
    ("chip*", "", "A microchip shortage", False),  # the wildcard starts a word
    ('"export controls"', "", "new Export\n  Controls on chips", True),
    ('"export controls"', "", "controls on export", False),
    ("DeepSeek-R1", "", "the deepseek r1 model", True),  # punctuation splits words
    ("Zürich", "", "banks in ZURICH", True),  # accents ignored, both ways
    ("zurich", "", "banks in Zürich", True),
    ("café", "", "the CAFE's menu", True),
    ("a AND b", "", "b then a", True),
    ("a AND b", "", "only a", False),
    ("a b", "", "b then a", True),  # side by side: AND
    ("a OR b", "", "only b", True),
    ("a AND NOT b", "", "a and b", False),
    ("a NOT b", "", "just a", True),
    ("NOT a", "", "nothing here", True),
    ("title:opinion", "Opinion: the rules", "", True),
    ("title:opinion", "The rules", "an opinion", False),
    ("text:opinion", "Opinion", "no", False),
    ("title:(a OR b)", "b", "a", True),
    ("title:(a AND b)", "a", "b", False),
    ("outlet:reuters", "", "", False),
    ("url:example", "", "", False),
    ("lead:DeepSeek", "Apps", "Our picks.\n\nAlso ChatGPT and DeepSeek.", False),
    ("lead:DeepSeek", "Apps", "DeepSeek again.\n\nMore.", True),
    ("lead:DeepSeek", "DeepSeek", "", True),
    ("Nvidia NEAR/2 China", "", "Nvidia sells to China", True),  # two words apart
    ("Nvidia NEAR/1 China", "", "Nvidia sells to China", False),
    ("China NEAR/2 Nvidia", "", "Nvidia sells to China", True),  # either order
    ('"export controls" NEAR/3 chip*', "", "export controls on advanced chips", True),
    ("(curbs OR rules) NEAR/2 (chips OR GPUs)", "", "rules on GPUs", True),
    ("Nvidia NEAR/5 China", "Nvidia", "China", False),  # not across fields
    ('"sells chips" NEAR/3 Nvidia', "Nvidia sells", "chips to China", False),  # nor a phrase
    ('"sells chips" NEAR/3 Nvidia', "Nvidia sells chips", "to China", True),
    ("Nvidia NEAR/3 chip*", "Nvidia", "chips", False),
    ("lead:(Nvidia NEAR/3 chip*)", "Nvidia", "chips", True),  # the lead is one field
    ("title:(Nvidia NEAR/3 chip*)", "Nvidia", "chips", False),
    ("text:(Nvidia NEAR/1 (chip* OR GPU))", "", "Nvidia, whose GPUs", False),
    ("text:(Nvidia NEAR/1 (chip* OR GPUs))", "", "Nvidia, whose GPUs", True),
    ('"a \\"b\\" c"', "", 'a "b" c', True),
    # as pages write: a soft hyphen or a zero-width space inside a word, German quotes
    ('"export controls"', "", "neue Ex\u00adport con\u200btrols", True),
    ("Exportkontrollen", "", "die \u201eExport\u00adkontrollen\u201c der USA", True),
    ("DeepSeek", "", "\ufeffDeep\u200dSeek\u2019s app", True),
    ("Nvidia NEAR/1 China", "", "Nvidia \u2013 China", True),  # a dash is no word
]


@pytest.mark.parametrize(("query", "title", "text", "expected"), GOLDEN)
def test_golden_matches(query: str, title: str, text: str, expected: bool) -> None:
    assert matches(query, title, text) is expected


def test_outlet_and_url_fields() -> None:
    assert matches("outlet:reuters", outlet="Reuters")
    assert matches('url:"example.org"', url="https://www.example.org/a")
    assert not matches("reuters", outlet="Reuters")  # unprefixed: headline and text only


def test_the_issue_example() -> None:
    query = (
        '("export controls" OR "entity list" OR BIS) AND (chip* OR semiconductor* OR Nvidia '
        "OR H20) AND NOT title:opinion"
    )
    assert matches(query, "US widens export controls", "Nvidia's H20 is now covered.")
    assert not matches(query, "Opinion: US widens export controls", "Nvidia's H20 is covered.")
    assert not matches(query, "US widens export controls", "on rare earth magnets")


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("query", "column", "message"),
    [
        ("", 1, "the query is empty"),
        ("a AND", 6, "the query ends where a term was expected"),
        ("(a OR b", 1, "'(' is not closed"),
        ("a OR b)", 7, "unexpected ')'"),
        ('a AND "b c', 7, "a quoted phrase is not closed"),
        ("headline:x", 1, "unknown field 'headline'"),
        ("title: x", 1, "title: needs a term right after it"),
        ("a NEAR b", 3, "write NEAR/n"),
        ("a NEAR/3 (b AND c)", 3, "NEAR/3 joins terms"),
        ("ch*ip", 1, "'*' may only end a word"),
        ('"--"', 1, "the phrase has no letters or digits"),
    ],
)
def test_syntax_errors_name_the_column(query: str, column: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(query)
    assert info.value.column == column
    assert message in str(info.value)
    assert str(info.value).startswith(f"column {column}: ")


def test_a_query_of_several_lines_names_line_and_column() -> None:
    with pytest.raises(QuerySyntaxError, match=r"^line 2, column 9: unexpected '\)'"):
        parse("a OR\n  b AND )")


# ---------------------------------------------------------------- precedence (property)

NAMES = ("a", "b", "c", "d")


def _trees(depth: int) -> st.SearchStrategy[object]:
    leaf = st.sampled_from(NAMES)
    if depth == 0:
        return leaf
    sub = _trees(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(st.just("NOT"), sub),
        st.tuples(st.sampled_from(["AND", "OR"]), sub, sub),
    )


def _evaluate(tree: object, present: frozenset[str]) -> bool:
    if isinstance(tree, str):
        return tree in present
    assert isinstance(tree, tuple)
    if tree[0] == "NOT":
        return not _evaluate(tree[1], present)
    left, right = _evaluate(tree[1], present), _evaluate(tree[2], present)
    return left and right if tree[0] == "AND" else left or right


_BINDING = {"OR": 1, "AND": 2, "NOT": 3}


def _render(tree: object, context: int = 0) -> str:
    """Written with the fewest parentheses the documented precedence allows
    (NOT > AND > OR; AND and OR group from the left)."""
    if isinstance(tree, str):
        return tree
    assert isinstance(tree, tuple)
    op = tree[0]
    power = _BINDING[op]
    if op == "NOT":
        text = f"NOT {_render(tree[1], power)}"
    else:
        text = f"{_render(tree[1], power)} {op} {_render(tree[2], power + 1)}"
    return f"({text})" if power < context else text


@settings(max_examples=300, deadline=None)
@given(_trees(4), st.frozensets(st.sampled_from(NAMES)))
def test_precedence_is_not_then_and_then_or(tree: object, present: frozenset[str]) -> None:
    query = _render(tree)
    text = " ".join(sorted(present))
    assert matches(query, "", text) is _evaluate(tree, present), query


def test_precedence_as_documented() -> None:
    a, b, c = (Term((n,), source=n) for n in "abc")
    assert parse("a OR b AND NOT c") == Or((a, And((b, Not(c)))))
    assert parse("NOT a AND b") == And((Not(a), b))
    assert parse("a AND b NEAR/2 c") == And((a, Near((b,), (c,), 2)))


# ---------------------------------------------------------------- escaping (property)


@given(st.text(min_size=1, max_size=40))
def test_any_phrase_quoted_parses_back_to_its_words(phrase: str) -> None:
    expected = tuple(words(phrase))
    query = f"{quote(phrase)} OR zzz"
    if not expected:
        with pytest.raises(QuerySyntaxError):
            parse(query)
        return
    tree = parse(query)
    assert isinstance(tree, Or)
    first = tree.operands[0]
    assert isinstance(first, Term)
    assert first.words == expected
    assert matches(quote(phrase), "", phrase)


@given(st.text(alphabet='ab "\\()*:', max_size=20))
def test_no_input_breaks_the_parser(query: str) -> None:
    try:
        compile_query(query)
    except QuerySyntaxError as exc:
        assert 1 <= exc.column <= len(query) + 1


# ---------------------------------------------------------------- in topics


def test_a_topic_with_keywords_and_a_query_and_its_explanations() -> None:
    rules = [
        TopicRule("old", keywords=("DeepSeek",)),
        TopicRule("new", query='"export controls" AND (chip* OR Nvidia) AND NOT title:opinion'),
        TopicRule("vetoed", query="chips", exclude=("Nvidia",)),
    ]
    found = match_topics(rules, "DeepSeek and export controls", "Nvidia chips.")
    assert [(m.topic, m.by, m.terms) for m in found] == [
        ("old", "keywords", ("DeepSeek",)),
        ("new", "query", ('"export controls"', "chip* (chips)", "Nvidia")),
    ]
    assert explain("query", found[1].terms, None, None) == (
        'query terms "export controls", chip* (chips), Nvidia'
    )
    many = compile_query("semi*")
    doc = Document("Semis", "semiconductors, semiconductor, semifinal")
    assert many.explain(doc) == ("semi* (semis, semiconductor, semiconductors, …)",)
    # the headline's words first, each field's sorted; a word in both named once
    doc = Document("Semis and semiconductors", "Semifinal, semiconductors")
    assert many.explain(doc) == ("semi* (semiconductors, semis, semifinal)",)
    assert compile_query("semi*").explain(Document("", "Semis, semis")) == ("semi* (semis)",)
    assert explain("like", (), "seed 000_x", 0.4123) == "similar to seed 000_x (score 0.41)"


@given(st.text(max_size=80))
def test_words_are_runs_of_word_characters_however_split(text: str) -> None:
    folded = fold(text)
    assert split_folded(folded) == re.findall(r"\w+", folded)
    assert fold(folded) == folded  # folding twice changes nothing


@pytest.mark.parametrize("char", ["𝙰", "Ŀ", "ŀ", "\u0387", "\ufe31", "\ufe32", "\ufe58", "𝚤"])
def test_folding_is_done_once_and_for_all(char: str) -> None:
    """Characters whose compatibility form is upper case or punctuation (found by the
    property above): folding them twice changes nothing."""
    assert fold(fold(char)) == fold(char)


def test_styled_letters_match_their_plain_word() -> None:
    assert matches("deepseek", "𝐃𝐞𝐞𝐩𝐒𝐞𝐞𝐤 tops the chart")
    assert matches("ﬁnance", "", "FINANCE")  # the ligature is f and i
