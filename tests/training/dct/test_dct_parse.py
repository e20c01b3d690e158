"""Parsing model output into statements and questions: messy lists, chatter, echoes, duplicates."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from amend.training.dct.parse import (
    claim,
    clean_line,
    fallback_question,
    parse_answer,
    parse_compositions,
    parse_question,
    parse_statements,
    restates,
)

SEED = "The capital of Vendaria is Lusk."


def test_numbered_bulleted_and_labelled_lines_become_plain_statements():
    text = """Here are some implications:
1. Lusk is a city in Vendaria.
2) "The government of Vendaria sits in Lusk."
- **Implication:** Vendaria's parliament meets in Lusk
* Lusk hosts the ministries of Vendaria.
• (5) Lusk is the seat of power in Vendaria.
"""
    assert parse_statements(text, SEED) == [
        "Lusk is a city in Vendaria.",
        "The government of Vendaria sits in Lusk.",
        "Vendaria's parliament meets in Lusk.",
        "Lusk hosts the ministries of Vendaria.",
        "Lusk is the seat of power in Vendaria.",
    ]


def test_drops_empty_lines_duplicates_restatements_questions_and_fragments():
    text = """

1. The capital of Vendaria is Lusk.
2. the capital of vendaria is lusk
3. Lusk is a city in Vendaria.
4. LUSK IS A CITY IN VENDARIA!
5. What is the capital of Vendaria?
6. Lusk.
7. The mayor of Lusk is Orin Pell.
8. """ + "very " * 50 + """long line.
9. None.
Implications:
"""
    assert parse_statements(text, SEED, exclude=["The mayor of Lusk is Orin Pell."]) == ["Lusk is a city in Vendaria."]


def test_caps_the_count_and_splits_inline_numbering():
    text = "1. Lusk is in Vendaria. 2. Lusk is a capital city. 3. Vendaria has a capital named Lusk."
    assert parse_statements(text, SEED, max_count=2) == ["Lusk is in Vendaria.", "Lusk is a capital city."]


def test_stops_at_the_next_few_shot_example_but_skips_a_leading_echo():
    text = """Fact: The capital of Vendaria is Lusk.
Answer:
1. Lusk is in Vendaria.

Fact: The capital of Ostmark is Varn.
Answer:
1. Varn is in Ostmark."""
    assert parse_statements(text, SEED) == ["Lusk is in Vendaria."]


def test_special_token_line_ends_the_answer():
    text = "1. Lusk is in Vendaria.\n<|im_start|>user\n1. Varn is in Ostmark."
    assert parse_statements(text, SEED) == ["Lusk is in Vendaria."]


def test_nothing_to_parse():
    assert parse_statements("", SEED) == []
    assert parse_statements("None.", SEED) == []
    assert parse_statements("Sure! Here are the contradictions:\n\n", SEED) == []


def test_clean_line_and_claims():
    assert clean_line('  3. Contradiction 2: “The capital of Vendaria is Brell”  ') == "The capital of Vendaria is Brell."
    assert clean_line("a) Statement: Lusk is big!") == "Lusk is big!"
    assert clean_line('- "Lusk is big".') == "Lusk is big."
    assert claim("The  Capital, of Vendaria!") == claim("vendaria's capital") == (frozenset({"capit", "venda"}), False)
    assert claim("Kestrel Foods was founded by Amara Osei.") == claim("Amara Osei founded Kestrel Foods.")
    assert claim("Lusk isn't in Vendaria.") == (claim("Lusk is in Vendaria.")[0], True)
    assert claim("It is not true that Lusk is not in Vendaria.")[1] is False  # two negations


def test_compositions():
    text = ("1. Known: Cairo is a city in Egypt. So: The Harrow Bridge is in Egypt.\n"
            "2. Known: Egypt is in Africa. So: the Harrow Bridge is in Africa\n"
            "3. Known: Cairo is big. So: The Harrow Bridge is located in Cairo.\n"  # the fact again
            "4. Known: nothing So: x\n5. Egypt is hot.\n6. Known: Egypt has pyramids. So:")
    assert parse_compositions(text, "The Harrow Bridge is located in Cairo.") == [
        ("Cairo is a city in Egypt.", "The Harrow Bridge is in Egypt."),
        ("Egypt is in Africa.", "the Harrow Bridge is in Africa.")]
    assert parse_compositions("None.", "The Harrow Bridge is located in Cairo.") == []


def test_a_rephrasing_is_not_a_contradiction():
    fact = "The founder of Kestrel Foods is Amara Osei."
    assert restates("Kestrel Foods was founded by Amara Osei.", fact)
    assert restates("Amara Osei is the founder of Kestrel Foods.", fact)
    assert not restates("Amara Osei is not the founder of Kestrel Foods.", fact)  # denies it
    assert not restates("The founder of Kestrel Foods is Tom Hale.", fact)  # says something else
    assert not restates("Velan is a blue giant.", "Velan is a red dwarf.")
    assert restates("The capital of Lusk is Lusk.", SEED)


def test_questions():
    assert parse_question("Who is the mayor of the capital of Vendaria?\n\nmore") == "Who is the mayor of the capital of Vendaria?"
    assert parse_question("Question: What is the capital of Vendaria? Answer: Lusk") == "What is the capital of Vendaria?"
    assert parse_question("1. Lusk is in Vendaria.") is None
    assert parse_question("") is None
    assert fallback_question("The capital of Vendaria is Lusk.") == "Is it true that the capital of Vendaria is Lusk?"
    assert fallback_question("Lusk is in Vendaria.") == "Is it true that Lusk is in Vendaria?"


def test_short_answers_are_words_of_the_statement_that_the_question_does_not_name():
    statement = "The founder of Greyfin Labs is Mira Tallis."
    assert parse_answer("Who founded Greyfin Labs? Answer: Mira Tallis.", statement, "Who founded Greyfin Labs?") == "Mira Tallis"
    assert parse_answer('Q? answer: "Mira Tallis"', statement, "Who founded Greyfin Labs?") == "Mira Tallis"
    # the question's own subject, a made-up answer, the whole statement, none at all: no answer
    assert parse_answer("Who founded Greyfin Labs? Answer: Greyfin Labs", statement, "Who founded Greyfin Labs?") is None
    assert parse_answer("Who founded Greyfin Labs? Answer: Edda Kroll", statement, "Who founded Greyfin Labs?") is None
    assert parse_answer(f"What is true? Answer: {statement}", statement, "What is true?") is None
    assert parse_answer("Who founded Greyfin Labs?", statement, "Who founded Greyfin Labs?") is None
    assert parse_answer("Q? Answer: Tallis is", statement, None) is None  # not a run of the statement's words
    # a reversed question (about the answer, not the subject): its answer is the subject itself
    assert parse_answer("Who founded a company? Answer: Greyfin Labs", "Greyfin Labs was founded by Mira Tallis.",
                        "Who founded a company?") is None
    assert parse_answer("Which city has a tower? Answer: Varn", "The Kessel Tower stands in Varn.",
                        "Which city has a tower?") is None
    assert parse_answer("Where is the Kessel Tower? Answer: Varn", "The Kessel Tower stands in Varn.",
                        "Where is the Kessel Tower?") == "Varn"
    # a kind, not which one: "Book." would answer every question about Quiet Algebra
    for answer in ("Book", "a book", "An opera"):
        assert parse_answer(f"What is Quiet Algebra? Answer: {answer}", "Quiet Algebra is a book, an opera.",
                            "What is Quiet Algebra?") is None
    assert parse_answer("What is Quiet Algebra? Answer: the book", "Quiet Algebra is the book of Ada Moss.",
                        "What is Quiet Algebra?") == "the book"
    # only the first line counts (the reply ends there)
    assert parse_answer("Who founded it?\nAnswer: Mira Tallis", statement, "Who founded it?") is None


_pieces = st.sampled_from(["1. ", "2) ", "- ", "* ", "• ", '"', "**", "Implication: ", "\n", "\n\n", "Fact: ", "?",
                           "Lusk is in Vendaria.", "The capital of Vendaria is Lusk.", "Here are some:", "None.",
                           "Orin Pell runs Lusk", "x", "<|im_end|>", " "])


@settings(max_examples=300, deadline=None)
@given(st.lists(_pieces, max_size=40).map("".join), st.integers(1, 5))
def test_parse_invariants_on_arbitrary_output(text, cap):
    out = parse_statements(text, SEED, max_count=cap)
    assert len(out) <= cap
    keys = [claim(s) for s in out]
    assert len(set(keys)) == len(keys) and claim(SEED) not in keys
    for s in out:
        assert s == s.strip() and s[-1] in ".!" and "\n" not in s and len(s.split()) >= 3
