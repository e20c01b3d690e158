"""Turn a model's free-form list output into clean statements (or one question and its answer).

Models answer with numbered lists, bullets, quotes, "Implication:" labels, chatter ("Here are
some implications:") and sometimes run on into the next few-shot example. `parse_statements`
keeps one statement per line and drops everything that is not one: empty lines, headers,
questions (when statements are wanted), fragments and rambles, duplicates, and restatements of
the seed or of other trusted facts. Statements are compared by `claim` (content words and negation).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from amend.names import entity_names, mentions

# list markers at the start of a line: "1.", "1)", "(1)", "a)", "-", "*", "•", "·", "–", "—", "#"
_MARKER = re.compile(r"^\s*(?:\(?\d{1,2}[.):]|\(?[a-hA-H]\)|[-*•·–—#>]+)\s+")
# label prefixes: "Implication:", "Contradiction 2:", "Statement -", "Answer:", "Q:" ...
_LABEL = re.compile(
    r"^\s*(?:(?:correlative\s+)?implications?|contradictions?|statements?|conclusions?|answer|"
    r"output|result|fact|facts|combined|question|sentence|claim|q|a)\s*\d*\s*[:\-–]\s+",
    re.IGNORECASE,
)
# "1. foo 2. bar" on one line: split before every number marker that follows a sentence end
_INLINE = re.compile(r"(?<=[.!?])\s+(?=\(?\d{1,2}[.)]\s)")
_QUOTES = "\"'`“”‘’«»*_"
_QUOTE_END = re.compile(r"[\"“”»]+([.!?])$")
# lines that introduce or end a list rather than state something
_CHATTER = re.compile(
    r"^(?:here (?:are|is)|sure\b|certainly\b|okay\b|ok\b|note\b|i hope|let me|these (?:are|statements)|"
    r"the following|implications?\b|contradictions?\b|none\b|no (?:implications?|contradictions?)\b|n/a\b)",
    re.IGNORECASE,
)
# a line starting like this begins the next few-shot example: stop there (once something was found)
_STOP = re.compile(r"^\s*(?:facts?\s*\d*\s*:|<\|)", re.IGNORECASE)
# leading words lowered in a fallback question ("The capital ..." -> "Is it true that the capital ...")
_LOWER_FIRST = {"The", "A", "An", "This", "These", "That", "Those", "There", "It", "Its", "Every", "Some", "No"}


def words(text: str) -> list[str]:
    """Lower-case words, letters and digits only (punctuation splits words)."""
    return re.sub(r"[^\w\s]", " ", text.lower()).split()


def clean_line(line: str) -> str:
    """One line without list markers, labels, wrapping quotes or markdown; a final period added."""
    s = line.replace("**", "").replace("__", "").strip()  # markdown bold anywhere
    for _ in range(3):  # "1. Implication: **foo**" needs several passes
        before = s
        s = _MARKER.sub("", s)
        s = _LABEL.sub("", s)
        s = s.strip().strip(_QUOTES).strip()
        if s == before:
            break
    s = " ".join(_QUOTE_END.sub(r"\1", s).split())  # '"Lusk is big".' -> 'Lusk is big.'
    if s and s[-1] not in ".!?":
        s += "."
    return s


def _lines(text: str) -> list[str]:
    """Lines up to the start of a next example (a leading echo of the input is skipped, not a stop)."""
    out: list[str] = []
    for raw in text.replace("\r", "\n").split("\n"):
        if _STOP.match(raw):
            if any(line.strip() for line in out):
                break
            continue
        out.extend(_INLINE.split(raw))
    return out


def parse_statements(
    text: str,
    seed: str | None = None,
    exclude: Iterable[str] = (),
    max_count: int = 5,
    min_words: int = 3,
    max_words: int = 40,
) -> list[str]:
    """Statements in `text`, one per line, at most `max_count`, without the seed or `exclude`."""
    seen = {claim(t) for t in [*(s for s in [seed] if s), *exclude]}
    out: list[str] = []
    for raw in _lines(text):
        s = clean_line(raw)
        if not s or s.endswith("?") or s.endswith(":.") or _CHATTER.match(s):
            continue
        words = len(s.split())
        if words < min_words or words > max_words:
            continue
        key = claim(s)
        if not key[0] or key in seen:
            continue
        seen.add(key)
        out.append(s)
        if len(out) >= max_count:
            break
    return out


_NEGATION = re.compile(r"\b(?:not|never|no|none|neither|nor|nobody|nothing)\b|n't\b", re.IGNORECASE)
_STOPWORDS = frozenset(
    "a an the of is are was were be been being in on at by to for from and or with as that this "
    "it its has have had which who whose s".split()  # "s": what is left of a possessive
)


def claim(text: str) -> tuple[frozenset[str], bool]:
    """What a statement says, for telling statements apart: the crude stems (`_stem`) of its
    content words, ignoring order, case, punctuation and stopwords, and whether it is negated.
    "Kestrel Foods was founded by Amara Osei." and "Amara Osei founded Kestrel Foods." make one
    claim; "Lusk is not in Vendaria." is the negation of "Lusk is in Vendaria."."""
    negated = len(_NEGATION.findall(text)) % 2 == 1
    stems = frozenset(_stem(w) for w in words(_NEGATION.sub(" ", text)) if w not in _STOPWORDS)
    return stems, negated


def _stem(word: str) -> str:
    """A crude stem: up to 3 letters of ending off, 5 kept ("founded", "founder" -> "found";
    "Smithson" and "Smithfield" stay apart); a word with a digit stays whole ("City12", "1990")."""
    return word if any(c.isdigit() for c in word) else word[:max(5, len(word) - 3)]


def restates(statement: str, fact: str) -> bool:
    """True when `statement` uses only the fact's words and no negation: a rephrasing of the
    fact, so it cannot be a contradiction of it ("Kestrel Foods was founded by Amara Osei." for
    "The founder of Kestrel Foods is Amara Osei."). A contradiction must deny something or say
    something the fact does not ("... is Brell.", "Velan is a blue giant.")."""
    stems, negated = claim(statement)
    return not negated and stems <= claim(fact)[0]


def parse_compositions(text: str, seed: str, exclude: Iterable[str] = (), max_count: int = 3,
                       separator: str = "So:") -> list[tuple[str, str]]:
    """(known fact, combined statement) pairs from "Known: <fact> So: <statement>" lines, the
    combined statement cleaned and checked as in parse_statements (new, not the seed or `exclude`)."""
    seen = {claim(t) for t in [seed, *exclude]}
    out: list[tuple[str, str]] = []
    for raw in _lines(text):
        known, sep, combined = raw.partition(separator)
        if not sep:
            continue
        known = clean_line(re.sub(r"^\s*(?:\(?\d{1,2}[.):]\s*)?known\s*:", "", known, flags=re.IGNORECASE))
        got = parse_statements(combined, max_count=1)
        if not got or len(known.split()) < 3 or claim(got[0]) in seen:
            continue
        seen.add(claim(got[0]))
        out.append((known, got[0]))
        if len(out) >= max_count:
            break
    return out


def parse_question(text: str, min_words: int = 3, max_words: int = 30) -> str | None:
    """The first line of `text` that is a question (ends with "?"), cleaned; None if there is none."""
    for raw in _lines(text):
        s = clean_line(raw)
        if not s.endswith("?"):
            # "Question: Who is X? Answer: ..." keeps the part up to the question mark
            if "?" in s:
                s = s[: s.index("?") + 1]
            else:
                continue
        if min_words <= len(s.split()) <= max_words:
            return s
    return None


def _run_of(found: list[str], text: str) -> bool:
    """`found` (words) occur in `text` one after another, as whole words."""
    return f" {' '.join(found)} " in f" {' '.join(words(text))} "


_INDEFINITE = {"a", "an"}


def _a_kind(found: list[str], statement: str) -> bool:
    """`found` is an indefinite noun phrase of `statement` ("a book" in "Quiet Algebra is a
    book."): it says what kind of thing the subject is, not which one."""
    if found[0] in _INDEFINITE:
        return True
    said = f" {' '.join(words(statement))} "
    return any(f" {article} {' '.join(found)} " in said for article in _INDEFINITE)


def parse_answer(text: str, statement: str, question: str | None, max_words: int = 8) -> str | None:
    """The short answer after "Answer:" in `text` (the question prompt's reply), kept only if it
    is words of `statement` that `question` does not already name, and `question` asks about the
    statement's subject (its first name, when it has one). An answer the model made up, or one
    that repeats the question's subject, teaches the wrong thing; so does one to a reversed
    question ("What planet orbits a red dwarf? Answer: Ardis" for "The planet Ardis orbits a red
    dwarf."): the expert then answers "Ardis." to any question about Ardis. So does an answer that
    only names a kind ("Book." for "Quiet Algebra is a book."): the expert learned to answer
    "Book." to "Who wrote Quiet Algebra?". None if there is none."""
    m = re.search(r"\banswer\s*:\s*(.+)", text.split("\n")[0] if text else "", re.IGNORECASE)
    if not m:
        return None
    answer = " ".join(m.group(1).strip().strip(_QUOTES).rstrip(".!").strip(_QUOTES).split())
    found = words(answer)
    if not found or len(found) > max_words or found == words(statement):
        return None
    if not _run_of(found, statement) or (question and _run_of(found, question)) or _a_kind(found, statement):
        return None
    subject = entity_names(statement)[:1]
    if subject and not (question and mentions(question, subject)):
        return None
    return answer


def fallback_question(statement: str) -> str:
    """A question that the statement answers, when the model gave none."""
    body = statement.strip().rstrip(".!? ")
    first, _, rest = body.partition(" ")
    if first in _LOWER_FIRST:
        body = f"{first.lower()} {rest}".strip()
    return f"Is it true that {body}?"
