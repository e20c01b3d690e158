"""Entity names in facts, and finding them in questions (the scope gate's exact match)."""

from __future__ import annotations

import pytest

from amend.names import NameIndex, entity_names, mentions, relation_words, share_a_word


@pytest.mark.parametrize("sentence, names", [
    ("The capital of Ostrava Minor is Kell.", ["Ostrava Minor", "Kell"]),
    ("Jonah Strand composed the opera The Salt King.", ["Jonah Strand", "Salt King"]),
    ("The CEO of Halvorsen Motors is Petra Lind.", ["Halvorsen Motors", "Petra Lind"]),
    ("Ivo Renn teaches at the University of Ghent.", ["Ivo Renn", "Ghent"]),
    ("Velan is a red dwarf.", ["Velan"]),
    ("Theo Varga's quartet is based in Oslo.", ["Theo Varga", "Oslo"]),
    ("The Bank of England raised rates in 2019.", ["Bank of England"]),
    ("Apollo 11 landed on the Moon.", ["Apollo 11", "Moon"]),
    ("What is the capital of Germany?", ["Germany"]),
    ("It rains a lot in spring.", []),
])
def test_entity_names(sentence, names):
    assert entity_names(sentence) == names


def test_mentions_are_whole_words_and_ignore_case():
    assert mentions("who is the ceo of halvorsen motors?", ["Halvorsen Motors"]) == ["Halvorsen Motors"]
    assert mentions("In which country does Theo Varga's quartet live?", ["Theo Varga"]) == ["Theo Varga"]
    assert mentions("Where does Kelly live?", ["Kell"]) == []
    assert mentions("Where is Halvorsen?", ["Halvorsen Motors"]) == []  # a whole name, not a part


def test_the_index_finds_names_in_order_of_appearance():
    index = NameIndex(["Ruth Amsel", "Kell", "Ostrava Minor", "kell"])
    assert len(index) == 3 and index.longest == 2
    assert index.find("Is Ruth Amsel the mayor of Kell, the capital of Ostrava Minor?") == ["Ruth Amsel", "Kell", "Ostrava Minor"]
    assert index.find("Nothing here.") == [] and NameIndex().find("Kell") == []


def test_relation_words_leave_out_names_and_grammar():
    assert relation_words("The head coach of the Tarrow Hawks is Lena Brix.") == {"head", "coach"}
    assert relation_words("What is the official language of Turkey?") == {"official", "language"}


@pytest.mark.parametrize("a, b, shared", [
    ({"coach"}, {"coached", "team"}, True),  # an ending
    ({"citizen"}, {"citizenship"}, True),
    ({"citizen"}, {"official", "language"}, False),
    ({"composer"}, {"composed"}, True),  # alike in their first five letters
    ({"founder"}, {"founded"}, True),
    ({"run"}, {"runs"}, False),  # too short to be a stem
    ({"state"}, {"status"}, False),
    (set(), {"capital"}, False),
])
def test_relation_words_are_shared_up_to_an_ending(a, b, shared):
    assert share_a_word(a, b) is shared and share_a_word(b, a) is shared
