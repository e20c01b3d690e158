"""Entity names in a sentence, and whether a question mentions one.

The scope gate (scope.py) treats a question that names an entity of your facts as in scope,
whatever its wording: "Which sport does the team coached by Lena Brix play?" is about the fact
"The head coach of the Tarrow Hawks is Lena Brix." even where sentence vectors see little in
common. The name must be the fact's subject (its first name), or the question must share one of
the fact's relation words ("coached" ~ "coach"; `relation_words`): "What is the official
language of Turkey?" is not about "Ann Lee is a citizen of Turkey."

A name is a run of capitalised words ("Ostrava Minor", "Salt King", "University of Ghent");
small joining words may sit inside a run ("of", "de", "van"), a leading article is
dropped, and common words that are capitalised only because they begin the sentence are not names.
Leading common words go too ("CEO of Halvorsen Motors" -> "Halvorsen Motors", "University of
Ghent" -> "Ghent"). Matching is case-insensitive and on whole words: "Kell" is not found in "Kelly".

A hand-written pass rather than an NER model: the facts are short declarative sentences, the
pass is deterministic and costs microseconds, and an NER model would be another download.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# words that may join the capitalised words of one name ("Bank of England", "Vincent van Gogh")
JOINERS = {"of", "de", "da", "del", "der", "van", "von", "la", "le", "di", "du", "y", "al", "bin", "the"}
# capitalised only because they start a sentence or a title, never a name on their own
COMMON = {
    "the", "a", "an", "in", "on", "at", "of", "to", "for", "and", "or", "but", "is", "are", "was", "were", "be",
    "it", "its", "this", "that", "these", "those", "there", "they", "he", "she", "his", "her", "their", "we", "i",
    "you", "my", "our", "your", "what", "which", "who", "whom", "whose", "where", "when", "why", "how", "yes", "no",
    "not", "all", "some", "every", "each", "many", "most", "one", "two", "three", "after", "before", "since",
    "during", "as", "if", "so", "then", "than", "also", "only", "mr", "mrs", "ms", "dr", "st", "mount", "lake",
    "river", "city", "company", "university", "street", "today", "yesterday", "tomorrow", "monday", "tuesday",
    "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february", "march", "april", "may",
    "june", "july", "august", "september", "october", "november", "december", "north", "south", "east", "west",
    "central", "new", "old", "great", "saint", "sir", "king", "queen", "president", "doctor", "professor",
    "ceo", "cfo", "cto", "coo", "chairman", "chair", "head", "mayor", "capital", "founder",
}
MIN_CHARS = 3  # shorter names ("US", "Al") match too much by accident
# grammar, not meaning: never a relation word (relation_words)
FUNCTION = JOINERS | {
    "a", "an", "in", "on", "at", "to", "for", "and", "or", "but", "is", "are", "was", "were", "be", "been",
    "it", "its", "this", "that", "these", "those", "there", "they", "he", "she", "his", "her", "their", "them",
    "him", "we", "i", "you", "my", "our", "your", "what", "which", "who", "whom", "whose", "where", "when", "why",
    "how", "yes", "no", "not", "all", "some", "every", "each", "as", "if", "so", "then", "than", "also", "only",
    "does", "do", "did", "has", "have", "had", "by", "with", "from", "into", "about", "can", "will", "would",
    "name", "named", "called", "tell", "me", "please", "true", "one",
}
STEM_CHARS = 5  # two relation words are one when they begin with this many letters alike ("composer", "composed")
_WORD = re.compile(r"[^\W\d_][\w'’.-]*|\d[\w.-]*", re.UNICODE)


def fold(text: str) -> str:
    """Case- and width-folded text (NFKC), for comparing names."""
    return unicodedata.normalize("NFKC", text).casefold()


def _capitalised(word: str, inside: bool) -> bool:
    """Starts a name (an upper-case letter) or continues one (also a number: "Apollo 11")."""
    return word[:1].isupper() or (inside and word[:1].isdigit())


def words(text: str) -> list[str]:
    """The words of `text` as names are made of: possessives and trailing dots taken off."""
    out = []
    for m in _WORD.finditer(text):
        w = m.group(0)
        for tail in ("'s", "’s"):
            w = w.removesuffix(tail)
        out.append(w.rstrip(".'’"))
    return out


def entity_names(sentence: str) -> list[str]:
    """The names in `sentence`, in order, without repeats (see the module docstring)."""
    words_ = words(sentence)
    names: list[str] = []
    run: list[str] = []

    def close() -> None:
        while run and run[-1].lower() in JOINERS:  # a joiner must be followed by a capitalised word
            run.pop()
        while run and (run[0].lower() in JOINERS or run[0].lower() in COMMON):  # "The Salt King" -> "Salt King"
            run.pop(0)
        if run and not all(w.lower() in COMMON for w in run):
            name = " ".join(run)
            if len(name) >= MIN_CHARS and name not in names:
                names.append(name)
        run.clear()

    for i, word in enumerate(words_):
        if not word:
            continue
        if _capitalised(word, bool(run)) and not (i == 0 and word.lower() in COMMON and not run):
            run.append(word)
        elif run and word.lower() in JOINERS:
            run.append(word)
        else:
            close()
    close()
    return names


def relation_words(sentence: str) -> set[str]:
    """The words of `sentence` that say something about its names: lower-case words (a
    capitalised one belongs to a name or starts the sentence: "South" of "South Korea"), not
    grammar ("The head coach of the Tarrow Hawks is Lena Brix." -> {"head", "coach"})."""
    return {fold(w) for w in words(sentence) if w[:1].islower() and fold(w) not in FUNCTION}


def share_a_word(a: set[str], b: set[str]) -> bool:
    """Whether two sets of relation words share one, up to an ending ("coach" ~ "coached",
    "founder" ~ "founded"): equal, or alike in their first STEM_CHARS letters, or the shorter (4
    letters or more) begins the longer. A crude stem, enough for the relation words of short
    sentences; a stemmer library would be another dependency for this one comparison."""
    def alike(x: str, y: str) -> bool:
        if x == y:
            return True
        if len(x) >= STEM_CHARS and len(y) >= STEM_CHARS and x[:STEM_CHARS] == y[:STEM_CHARS]:
            return True
        short, long_ = sorted((x, y), key=len)
        return len(short) >= 4 and long_.startswith(short)
    return any(alike(x, y) for x in a for y in b)


class NameIndex:
    """Names to look up in questions: `find` checks every run of up to `longest` words of the
    question against a dictionary of folded names, so its cost does not grow with the names."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._names: dict[tuple[str, ...], str] = {}  # folded words -> the name as first seen
        self.longest = 0
        for n in names:
            self.add(n)

    def add(self, name: str) -> None:
        key = tuple(fold(w) for w in words(name) if w)
        if key:
            self._names.setdefault(key, name)
            self.longest = max(self.longest, len(key))

    def __len__(self) -> int:
        return len(self._names)

    def find(self, text: str) -> list[str]:
        """The names that occur in `text` as whole words, case-insensitive, in order of appearance."""
        ws = [fold(w) for w in words(text) if w]
        found: list[str] = []
        for i in range(len(ws)):
            for n in range(1, min(self.longest, len(ws) - i) + 1):
                name = self._names.get(tuple(ws[i:i + n]))
                if name is not None and name not in found:
                    found.append(name)
        return found


def mentions(text: str, names: Iterable[str]) -> list[str]:
    """The names that occur in `text` as whole words, case-insensitive."""
    return NameIndex(names).find(text)
