"""MQuAKE cases (Zhong et al. 2023) converted into amend's evaluation format (see cases.py).

An MQuAKE case edits one to four facts of a chain (`requested_rewrite`) and asks a multi-hop
question whose answer changes with them. Converted:

- facts: each rewrite as one sentence: `fact_new` where the file has it (AKEW-MQuAKE-CF), else
  the cloze prompt filled with the subject followed by the new target ("{} is a citizen of" +
  "Ellie Kemper" + "Croatia" -> "Ellie Kemper is a citizen of Croatia.");
- probes, kind multihop: the three paraphrases of the multi-hop question, answers `new_answer`
  and its aliases, distractors the pre-edit `answer` and the commonest answers of the same
  relation (the chain's last) in the file;
- probes, kind direct: each hop of the new chain (`new_single_hops`), answers its answer and
  aliases, distractors the pre-edit chain's answer to the same hop and the commonest answers of
  the hop's relation in the file.

Distractors are answers of the same kind (capitals for a capital, sports for a sport): the
relation path of a case is fixed by its question, so old and new hop i share a relation
(`orig.triples`, `orig.new_triples`). Entities of the chain itself would make poor distractors:
an answer that restates the question ("The capital of the United Kingdom is London") gives
"United Kingdom" a higher log-probability than "London", whatever the model knows.
A distractor never equals an answer alias and is never named in the question (case-insensitive). `meta` keeps the source file, the
case_id, the number of hops and edits, and the split: in AKEW-MQuAKE-CF.json the cases with
case_id below 2000 are for development (tuning), the rest are for reporting; MQuAKE-hard.json
is for reporting only (its README in ../shared/data/mquake/).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from amend.evaluation.cases import Case, CaseError, Probe, case_to_json, parse_case
from amend.evaluation.metrics import contains_answer

DEV_BELOW = 2000  # AKEW-MQuAKE-CF case_ids below this are the development split
SPLITS = ("all", "dev", "test")
POOL_DISTRACTORS = 3  # same-relation answers added to the pre-edit one


def _unique(items: list[str], exclude: set[str] = frozenset()) -> list[str]:
    """Non-empty strings in order, without case-insensitive repeats or anything in `exclude`."""
    seen = set(exclude)
    out = []
    for item in items:
        item = (item or "").strip()
        if item and item.casefold() not in seen:
            seen.add(item.casefold())
            out.append(item)
    return out


def _sentence(text: str) -> str:
    """Ends with a full stop; starts upper case unless its first word has capitals of its own
    ("center is ..." -> "Center is ...", "iPhone is ..." stays)."""
    text = text.strip()
    first = text.split(" ", 1)[0]
    if first.islower():
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def rewrite_fact(rewrite: dict) -> str:
    """One requested rewrite as a sentence (`fact_new`, else the filled prompt and new target)."""
    if rewrite.get("fact_new"):
        return _sentence(rewrite["fact_new"])
    prompt = rewrite["prompt"].format(rewrite["subject"])
    return _sentence(f"{prompt} {rewrite['target_new']['str']}")


def _answers(answer: str, aliases: list[str] | None) -> list[str]:
    return _unique([answer, *(aliases or [])])


def split_of(raw: dict, source: str) -> str:
    """'dev' for AKEW-MQuAKE-CF cases below DEV_BELOW, else 'test' (MQuAKE-hard: always test)."""
    if "hard" in source.lower():
        return "test"
    return "dev" if int(raw["case_id"]) < DEV_BELOW else "test"


def _count_relations(raw: dict, counts: dict[str, Counter]) -> None:
    orig = raw["orig"]
    for triple, labeled in zip(orig["triples"] + orig["new_triples"], orig["triples_labeled"] + orig["new_triples_labeled"]):
        counts[triple[1]][labeled[2]] += 1


def _ranked(counts: dict[str, Counter]) -> dict[str, list[str]]:
    return {rel: [a for a, _ in sorted(c.items(), key=lambda x: (-x[1], x[0]))] for rel, c in counts.items()}


def relation_pool(raws: list[dict]) -> dict[str, list[str]]:
    """{relation id: every answer of that relation in the file (old and new chains), commonest first}."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for raw in raws:
        _count_relations(raw, counts)
    return _ranked(counts)


def _distractors(question: str, answers: list[str], first: str, same_relation: list[str]) -> list[str]:
    """The pre-edit answer, then same-relation answers (1 + POOL_DISTRACTORS in all): none an
    alias, none named in the question."""
    exclude = {a.casefold() for a in answers}
    picked = [d for d in _unique([first, *same_relation], exclude) if not contains_answer(question, [d])]
    return picked[: 1 + POOL_DISTRACTORS]


def convert_case(raw: dict, source: str = "", pool: dict[str, list[str]] | None = None) -> Case:
    """One MQuAKE case as an amend Case; `pool` from relation_pool over the whole file (default:
    this case alone). KeyError/TypeError/ValueError/IndexError if a field is missing."""
    pool = pool if pool is not None else relation_pool([raw])
    facts = _unique([rewrite_fact(r) for r in raw["requested_rewrite"]])
    new_hops, old_hops = raw["new_single_hops"], raw["single_hops"]
    relations = [t[1] for t in raw["orig"]["new_triples"]]

    probes: list[Probe] = []
    answers = _answers(raw["new_answer"], raw.get("new_answer_alias"))
    for question in _unique(raw["questions"]):
        distractors = _distractors(question, answers, raw["answer"], pool.get(relations[-1], []))
        if distractors:  # ranking needs at least one wrong answer
            probes.append(Probe("multihop", question, tuple(answers), tuple(distractors)))

    for i, hop in enumerate(new_hops):
        question = hop["question"].strip()
        hop_answers = _answers(hop["answer"], hop.get("answer_alias"))
        distractors = _distractors(question, hop_answers, old_hops[i]["answer"], pool.get(relations[i], []))
        if distractors:
            probes.append(Probe("direct", question, tuple(hop_answers), tuple(distractors)))

    meta = {
        "source": source,
        "case_id": raw["case_id"],
        "split": split_of(raw, source),
        "hops": len(new_hops),
        "edits": len(raw["requested_rewrite"]),
    }
    case = Case(f"mquake-{raw['case_id']}", tuple(facts), tuple(probes), meta)
    parse_case(case_to_json(case))  # the same checks a case file gets
    return case


def convert_file(path: str | Path, split: str = "all") -> list[Case]:
    """Every case of an MQuAKE JSON file (a list of cases), or only the dev or test split."""
    path = Path(path)
    if split not in SPLITS:
        raise CaseError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CaseError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise CaseError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CaseError(f"{path}: cannot read ({e})") from None
    if not isinstance(data, list):
        raise CaseError(f"{path}: expected a JSON list of MQuAKE cases")
    counts: dict[str, Counter] = defaultdict(Counter)
    for i, raw in enumerate(data):  # first the pool of answers per relation, over the whole file
        with _naming_case(path, i, raw):
            _count_relations(raw, counts)
    pool = _ranked(counts)
    cases = []
    for i, raw in enumerate(data):
        with _naming_case(path, i, raw):
            case = convert_case(raw, path.name, pool)
        if split == "all" or case.meta["split"] == split:
            cases.append(case)
    return cases


@contextmanager
def _naming_case(path: Path, i: int, raw: object) -> Iterator[None]:
    """A malformed case becomes a CaseError naming the file, the case's index and its case_id."""
    where = f"{path}: case {i} (case_id {raw.get('case_id', '?') if isinstance(raw, dict) else '?'})"
    try:
        yield
    except KeyError as e:
        raise CaseError(f"{where}: missing field {e}") from None
    except (TypeError, ValueError, AttributeError, IndexError) as e:
        raise CaseError(f"{where}: {e}") from None
