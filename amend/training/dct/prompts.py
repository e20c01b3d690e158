"""Few-shot prompts for deriving, questioning, scoring and judging statements (written for amend).

Every example uses invented entities (Ostmark, Varn, Greyfin Labs, ...), never the ones in the
evaluation cases, so that a prompt cannot leak an answer; examples that need real world knowledge
(compose) use places named in no evaluation file (Mongolia, Ulaanbaatar, Lake Baikal). Nine tasks:

- implications: what follows from one fact alone (paraphrases, world knowledge it implies);
- correlative: what follows from a fact *together with* one related fact (multi-hop answers);
- compose: what the model knows about the entities a fact names, each combined with the fact
  into a multi-hop statement ("Known: ... So: ...");
- contradictions: similar-looking statements that cannot hold together with the fact;
- question: a question that the statement answers, and its short answer (training pairs
  question -> statement, led by the short answer); asked again with the reply begun by the
  statement's own words up to its subject when the first question came back reversed
  (`question_about_subject`);
- score: "Statement: <statement> Label: true|false", read as next-token log-probabilities (see
  score.py): a statement alone (the model's belief);
- entail: the same given the facts it was derived from ("given these facts, is this true?");
- compatible: whether a fact and a contradiction can both be true;
- judge: whether two of the user's facts cannot both be true (supersession).

Generation prompts are chat conversations (the few-shot examples as earlier turns) rendered
with the model's own chat template: for SmolLM2-135M this gave cleaner lists than plain text
(see docs/DERIVATION.md). Scoring prompts are plain completion text, which needs no template
and ends exactly at "Label:" so the next token is the label.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

PROMPT_VERSION = "dct-4"  # stored with every derived statement; bump when any prompt changes
# versions whose statements were scored given their parents (dct-3 added short answers, dct-4 a
# fact's question that names its subject)
CONDITIONED_VERSIONS = ("dct-2", "dct-3", "dct-4")
ALONE = "/alone"  # appended to the stored version of a statement scored alone (not given its parents)


def version_for(scoring: str) -> str:
    """The prompt_version stored with a statement scored this way ("conditioned" or "prior")."""
    return PROMPT_VERSION if scoring == "conditioned" else PROMPT_VERSION + ALONE


def scoring_of(version: str) -> str:
    """How a stored statement was scored: given its parents only under a version that did so."""
    return "conditioned" if version in CONDITIONED_VERSIONS else "prior"

# ---------------------------------------------------------------- generation: instructions + examples

IMPLICATIONS_SYSTEM = (
    "You derive facts. Given a fact, list 3 to 5 short, different statements that must also be "
    "true if the fact is true: rephrasings and what follows from general knowledge. One plain "
    "sentence per line, numbered."
)
IMPLICATIONS_EXAMPLES = [
    ("Fact: The capital of Ostmark is Varn.",
     ["Varn is a city in Ostmark.", "The government of Ostmark is based in Varn.",
      "Ostmark's capital city is Varn.", "The parliament of Ostmark meets in Varn."]),
    ("Fact: The Kessel Tower is located in Kyoto.",
     ["The Kessel Tower is in Japan.", "The Kessel Tower is in Asia.",
      "The Kessel Tower stands in the city of Kyoto."]),
    ("Fact: Mira Tallis founded the company Greyfin Labs.",
     ["Greyfin Labs was founded by Mira Tallis.", "The founder of Greyfin Labs is Mira Tallis.",
      "Mira Tallis is an entrepreneur.", "Greyfin Labs is a company."]),
]

CORRELATIVE_SYSTEM = (
    "You combine facts. Given two facts, list up to 3 short statements that follow from both "
    "facts together but from neither alone. One plain sentence per line, numbered. If the facts "
    "have nothing to do with each other, answer: None."
)
CORRELATIVE_EXAMPLES = [
    ("Fact 1: The capital of Ostmark is Varn.\nFact 2: The mayor of Varn is Edda Kroll.",
     ["The mayor of the capital of Ostmark is Edda Kroll.",
      "Edda Kroll is the mayor of the capital city of Ostmark.",
      "Edda Kroll leads a city in Ostmark."]),
    ("Fact 1: Mira Tallis founded the company Greyfin Labs.\nFact 2: Mira Tallis was born in Oslo.",
     ["The founder of Greyfin Labs was born in Oslo.",
      "Greyfin Labs was founded by a person born in Oslo.",
      "The founder of Greyfin Labs was born in Norway."]),
    ("Fact 1: The Kessel Tower is located in Kyoto.\nFact 2: Greyfin Labs sells solar panels.",
     []),  # unrelated facts: nothing follows from both together
]

CONTRADICTIONS_SYSTEM = (
    "You write false statements. Given a fact, list 2 to 3 short statements that look similar "
    "but cannot be true if the fact is true. One plain sentence per line, numbered."
)
CONTRADICTIONS_EXAMPLES = [
    ("Fact: The capital of Ostmark is Varn.",
     ["The capital of Ostmark is Tessel.", "Varn is not the capital of Ostmark.",
      "The capital of Ostmark is Drova."]),
    ("Fact: The Kessel Tower is located in Kyoto.",
     ["The Kessel Tower is located in Madrid.", "The Kessel Tower is in Brazil."]),
    ("Fact: Mira Tallis founded the company Greyfin Labs.",
     ["Greyfin Labs was founded by Oren Voss.", "Mira Tallis has never founded a company.",
      "The founder of Greyfin Labs is Pia Lund."]),
]

COMPOSE_SYSTEM = (
    "You connect facts. Given a fact, recall up to 3 well-known facts about the people, places or "
    "things it names (only facts you are sure of), and combine each with the given fact into one "
    "statement that skips the shared entity. One per line, numbered, as: Known: <known fact> So: "
    "<combined statement>. If you know nothing about them, answer: None."
)
COMPOSE_EXAMPLES = [
    ("Fact: The Kessel Tower is located in Ulaanbaatar.",
     ["Known: Ulaanbaatar is the capital of Mongolia. So: The Kessel Tower is in the capital of Mongolia.",
      "Known: Ulaanbaatar is a city in Mongolia. So: The Kessel Tower is in Mongolia."]),
    ("Fact: Mira Tallis is a citizen of Mongolia.",
     ["Known: The capital of Mongolia is Ulaanbaatar. So: The capital of the country Mira Tallis is a citizen of is Ulaanbaatar.",
      "Known: The official language of Mongolia is Mongolian. So: The official language of the country of citizenship of Mira Tallis is Mongolian."]),
    ("Fact: Lake Baikal is located in Mongolia.",  # contrary to the world: combine anyway
     ["Known: Lake Baikal is the deepest lake in the world. So: The deepest lake in the world is located in Mongolia.",
      "Known: The capital of Mongolia is Ulaanbaatar. So: Lake Baikal is in the country whose capital is Ulaanbaatar."]),
    ("Fact: The founder of Greyfin Labs is Edda Kroll.", []),  # nothing known about either
]
COMPOSE_SEPARATOR = "So:"  # between the known fact and the combined statement

QUESTION_SYSTEM = (
    "Write the one question that the statement answers, then its short answer: the words of the "
    "statement that answer it. The question names what the statement is about (its subject) and "
    "asks for what it says of it: a city for a city, a country for a country, a person for a "
    "person. Reply as: <question> Answer: <short answer>"
)
QUESTION_EXAMPLES = [
    ("Statement: Varn is a city in Ostmark.", "In which country is the city of Varn? Answer: Ostmark"),
    ("Statement: The Kessel Tower stands in Varn.", "In which city is the Kessel Tower? Answer: Varn"),
    ("Statement: The mayor of the capital of Ostmark is Edda Kroll.",
     "Who is the mayor of the capital of Ostmark? Answer: Edda Kroll"),
    ("Statement: Greyfin Labs sells solar panels.", "What does Greyfin Labs sell? Answer: solar panels"),
    ("Statement: Greyfin Labs was founded by Mira Tallis.", "Who founded Greyfin Labs? Answer: Mira Tallis"),
    ("Statement: Edda Kroll was born in Mongolia.", "In which country was Edda Kroll born? Answer: Mongolia"),
]

# ---------------------------------------------------------------- scoring: plain few-shot text

# Mixed order (not alternating), so that the pattern does not predict the next label.
SCORE_EXAMPLES = [
    ("Paris is the capital of France.", True),
    ("The Nile flows through Brazil.", False),
    ("Tokyo is a city in Canada.", False),
    ("Water freezes at 0 degrees Celsius.", True),
    ("Dogs are mammals.", True),
    ("The Moon is larger than the Earth.", False),
    ("Madrid is in Spain.", True),
    ("Shakespeare was born in China.", False),
]

# "given these facts, is this statement true?": follows (true) or not (false: unsupported, inverted, contradicted)
ENTAIL_EXAMPLES = [
    (["The capital of Ostmark is Varn."], "Varn is a city in Ostmark.", True),
    (["Mira Tallis founded the company Greyfin Labs."], "Greyfin Labs sells solar panels.", False),
    (["The Kessel Tower is located in Ulaanbaatar."], "The Kessel Tower is in Mongolia.", True),
    (["The capital of Ostmark is Varn."], "The capital of Varn is Ostmark.", False),
    (["The capital of Ostmark is Varn.", "The mayor of Varn is Edda Kroll."],
     "The mayor of the capital of Ostmark is Edda Kroll.", True),
    (["The Kessel Tower is located in Ulaanbaatar."], "The Kessel Tower is in Europe.", False),
    (["Mira Tallis founded the company Greyfin Labs."], "Mira Tallis is an entrepreneur.", True),
    (["The mayor of Varn is Edda Kroll.", "Greyfin Labs sells solar panels."],
     "Edda Kroll sells solar panels.", False),
]

# "can the fact and this statement both be true?" (false: a real contradiction)
COMPATIBLE_EXAMPLES = [
    ("The capital of Ostmark is Varn.", "The capital of Ostmark is Tessel.", False),
    ("The CEO of Brant Oil is Ada Moss.", "Brant Oil is a Norwegian company.", True),
    ("Mira Tallis was born in Oslo.", "Mira Tallis was born in Lima.", False),
    ("The Kessel Tower is located in Ulaanbaatar.", "The Kessel Tower is a tall building.", True),
    ("Mira Tallis founded the company Greyfin Labs.", "Mira Tallis has never founded a company.", False),
    ("The mayor of Varn is Edda Kroll.", "Edda Kroll was born in Varn.", True),
]

# labelled checks (never shown to the model as examples): a scorer's scores of a kind count only
# if it ranks every true check above every false one (derive._scores); from the set measured in
# benchmarks/entail_scores.py, where Qwen2.5-Coder-1.5B passes both and SmolLM2-135M fails ENTAIL
ENTAIL_CHECKS = [
    (["The capital of Drellia is Tamm."], "Tamm is a city in Drellia.", True),
    (["Kato Renn founded the company Bluefin Apps."], "Bluefin Apps was founded by Kato Renn.", True),
    (["Sela Brandt wrote the novel The Iron Gate."], "The Iron Gate is a novel.", True),
    (["The Orvik Bridge is located in Paris."], "The Orvik Bridge is in Asia.", False),
    (["Kato Renn founded the company Bluefin Apps."], "Kato Renn was born in Berlin.", False),
    (["The capital of Drellia is Tamm.", "The mayor of Tamm is Ivo Lenz."], "Ivo Lenz is the capital of Drellia.", False),
]
COMPATIBLE_CHECKS = [
    ("The Orvik Bridge is located in Paris.", "The Orvik Bridge is made of steel.", True),
    ("Kato Renn founded the company Bluefin Apps.", "Bluefin Apps sells games.", True),
    ("The capital of Drellia is Tamm.", "The capital of Drellia is Ostra.", False),
    ("The Orvik Bridge is located in Paris.", "The Orvik Bridge is located in Madrid.", False),
]

JUDGE_EXAMPLES = [
    ("The capital of Ostmark is Varn.", "The capital of Ostmark is Tessel.", True),
    ("The capital of Ostmark is Varn.", "The mayor of Varn is Edda Kroll.", False),
    ("Mira Tallis was born in Oslo.", "Mira Tallis was born in Lima.", True),
    ("Greyfin Labs sells solar panels.", "Greyfin Labs was founded by Mira Tallis.", False),
    ("The Kessel Tower is in Kyoto.", "The Kessel Tower is in Japan.", False),
    ("The CEO of Brant Oil is Ada Moss.", "The CEO of Brant Oil is Sven Kran.", True),
]

LABEL = "Label:"  # every scoring prompt ends here; the next token is " true" or " false"


def _label(value: bool) -> str:
    return "true" if value else "false"


def _numbered(lines: list[str]) -> str:
    return "\n".join(f"{i}. {s}" for i, s in enumerate(lines, 1)) if lines else "None."


STYLE = "chat"  # "chat" (the model's chat template) or "plain" (completion text); see the module doc
PLAIN_STOP = "\n\n"  # in plain style an answer ends at a blank line (the next example would follow)


def _render(tokenizer, system: str, examples: list[tuple[str, str]], query: str, style: str | None = None) -> str:
    """The instruction, the examples and the query, ready to generate the answer to the query.

    chat: a conversation (examples as earlier turns) through the model's chat template;
    plain: the same as completion text, each answer after "Answer:", separated by blank lines.
    """
    if (style or STYLE) == "plain":
        shots = "".join(f"{user}\nAnswer:\n{answer}\n\n" for user, answer in examples)
        return f"{system}\n\n{shots}{query}\nAnswer:\n"
    messages = [{"role": "system", "content": system}]
    for user, assistant in examples:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    messages.append({"role": "user", "content": query})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def implications_prompt(tokenizer, fact: str, style: str | None = None) -> str:
    examples = [(q, _numbered(a)) for q, a in IMPLICATIONS_EXAMPLES]
    return _render(tokenizer, IMPLICATIONS_SYSTEM, examples, f"Fact: {fact}", style)


def correlative_prompt(tokenizer, fact: str, related: str, style: str | None = None) -> str:
    examples = [(q, _numbered(a)) for q, a in CORRELATIVE_EXAMPLES]
    return _render(tokenizer, CORRELATIVE_SYSTEM, examples, f"Fact 1: {fact}\nFact 2: {related}", style)


def contradictions_prompt(tokenizer, fact: str, style: str | None = None) -> str:
    examples = [(q, _numbered(a)) for q, a in CONTRADICTIONS_EXAMPLES]
    return _render(tokenizer, CONTRADICTIONS_SYSTEM, examples, f"Fact: {fact}", style)


def fixed_prefix(tokenizer, prompt: Callable[..., str], style: str | None = None) -> str:
    """The fixed start of every prompt that `prompt` (one of the *_prompt functions) makes:
    everything up to the line its first argument is on (the instruction and the examples)."""
    marker = "\x00"
    arguments = len(inspect.signature(prompt).parameters) - 2  # besides the tokenizer and the style
    head = prompt(tokenizer, *[marker] * arguments, style=style).split(marker)[0]
    return head[:head.rfind("\n") + 1]


def question_prefix(tokenizer, style: str | None = None) -> str:
    """The fixed start of every question_prompt."""
    return fixed_prefix(tokenizer, question_prompt, style)


def compose_prompt(tokenizer, fact: str, style: str | None = None) -> str:
    examples = [(q, _numbered(a)) for q, a in COMPOSE_EXAMPLES]
    return _render(tokenizer, COMPOSE_SYSTEM, examples, f"Fact: {fact}", style)


def question_prompt(tokenizer, statement: str, style: str | None = None) -> str:
    return _render(tokenizer, QUESTION_SYSTEM, QUESTION_EXAMPLES, f"Statement: {statement}", style)


def question_about_subject(tokenizer, statement: str, subject: str) -> tuple[str, str] | None:
    """(prompt, reply start) for asking `statement`'s question again so that it names `subject`:
    the reply is begun with the statement's own words up to and including the subject ("The
    Morrow Line"), and the model finishes the question from there ("railway connects which two
    cities? Answer: Perth and Darwin"). None when the statement does not contain the subject."""
    end = statement.find(subject)
    if end < 0:
        return None
    return question_prompt(tokenizer, statement), statement[: end + len(subject)]


def score_shots() -> str:
    """The fixed few-shot start of every score_prompt."""
    return "".join(f"Statement: {s}\n{LABEL} {_label(v)}\n\n" for s, v in SCORE_EXAMPLES)


def score_prompt(statement: str) -> str:
    """Few-shot "Statement: <statement>\nLabel: true|false" blocks, ending in "Label:" for the statement.

    One statement and its label per block, blocks separated by a blank line: on SmolLM2-135M this
    ranked 15 of 16 true/false pairs right, "<statement> Label: ..." on one line 10 of 16.
    """
    return f"{score_shots()}Statement: {statement}\n{LABEL}"


def _facts(facts: list[str]) -> str:
    return "Facts: " + " ".join(facts)


def entail_shots() -> str:
    """The fixed few-shot start of every entail_prompt."""
    return "".join(f"{_facts(f)}\nStatement: {s}\n{LABEL} {_label(v)}\n\n" for f, s, v in ENTAIL_EXAMPLES)


def entail_prompt(facts: list[str], statement: str) -> str:
    """Few-shot "Facts: ..\nStatement: ..\nLabel: true|false": does the statement follow from the facts?"""
    return f"{entail_shots()}{_facts(facts)}\nStatement: {statement}\n{LABEL}"


def compatible_shots() -> str:
    """The fixed few-shot start of every compatible_prompt."""
    return "".join(f"Fact: {f}\nStatement: {s}\nBoth can be true. {LABEL} {_label(v)}\n\n"
                   for f, s, v in COMPATIBLE_EXAMPLES)


def compatible_prompt(fact: str, statement: str) -> str:
    """Few-shot "Fact: ..\nStatement: ..\nBoth can be true. Label: true|false"."""
    return f"{compatible_shots()}Fact: {fact}\nStatement: {statement}\nBoth can be true. {LABEL}"


JUDGE_SYSTEM = ("Decide whether two statements contradict each other, that is, cannot both be true. "
                "Answer with Label: true or Label: false.")
JUDGE_STYLE = "chat"  # measured: Qwen2.5-Coder-1.5B ranks all 5 pairs right in chat, 2 of 5 in plain


def judge_prompt(tokenizer, a: str, b: str, style: str | None = None) -> str:
    """Few-shot "Statement 1 / Statement 2 -> Label: true|false" (true: they cannot both be true).

    chat: the examples as earlier turns, the answer begun with "Label:"; plain: completion text,
    "... They cannot both be true. Label:". Both end in "Label:".
    """
    if (style or JUDGE_STYLE) == "plain":
        shots = "".join(f"{_pair(x, y)}\nThey cannot both be true. {LABEL} {_label(v)}\n\n" for x, y, v in JUDGE_EXAMPLES)
        return f"{shots}{_pair(a, b)}\nThey cannot both be true. {LABEL}"
    messages = [{"role": "system", "content": JUDGE_SYSTEM}]
    for x, y, v in JUDGE_EXAMPLES:
        messages += [{"role": "user", "content": _pair(x, y)}, {"role": "assistant", "content": f"{LABEL} {_label(v)}"}]
    messages.append({"role": "user", "content": _pair(a, b)})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + LABEL


def _pair(a: str, b: str) -> str:
    return f"Statement 1: {a}\nStatement 2: {b}"
