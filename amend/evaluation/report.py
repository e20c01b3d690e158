"""Eval results as text: the terminal table, and the Markdown report `amend eval --out` writes.

Both show, per system and probe kind, ranking and generation as fractions of the kind's probes
("0.75 (9/12)"), systems in the order they were asked for, and for the expert systems how often
the scope gate opened ("gate": the true positive rate on direct, paraphrase and multihop probes,
the false positive rate on locality probes).
"""

from __future__ import annotations

from amend.evaluation.cases import KINDS


def kinds_of(systems: dict[str, dict[str, dict]]) -> list[str]:
    present = {k for table in systems.values() for k in table}
    return [k for k in KINDS if k in present] + sorted(present - set(KINDS))


METRICS = ("ranking", "generation", "gate")


def cell(entry: dict | None, metric: str) -> str:
    if not entry or not entry["n"] or metric not in entry:
        return "-"
    hits = round(entry[metric] * entry["n"])
    return f"{entry[metric]:.2f} ({hits}/{entry['n']})"


def rows(systems: dict[str, dict[str, dict]], metric: str) -> tuple[list[str], list[list[str]]]:
    kinds = kinds_of(systems)
    named = [(name, table) for name, table in systems.items()
             if metric != "gate" or any(metric in e for e in table.values())]
    return ["system", *kinds], [[name, *(cell(table.get(k), metric) for k in kinds)] for name, table in named]


def markdown_table(systems: dict[str, dict[str, dict]], metric: str) -> str:
    head, body = rows(systems, metric)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def print_tables(result: dict, console=None) -> None:
    """The ranking and generation tables on the terminal (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for metric in METRICS:
        head, body = rows(result["systems"], metric)
        if not body:
            continue
        table = Table(title=f"{metric} ({result['profile']}, {result['seconds']:.0f} s)")
        for i, name in enumerate(head):
            table.add_column(name, justify="left" if i == 0 else "right")
        for r in body:
            table.add_row(*r)
        console.print(table)


def markdown_report(result: dict, command: str = "", misses: int = 10) -> str:
    """A Markdown report: the command, both tables, the seconds of each stage (updates, each
    system's answers; summed over the runs of a --work folder) and the closest ranking misses."""
    out = [f"# amend eval: {result['profile']}", ""]
    if command:
        out += ["```", command, "```", ""]
    out += [f"{len(result['cases'])} probe answers in {result['seconds']:.0f} s.", ""]
    for metric in METRICS:
        if rows(result["systems"], metric)[1]:
            out += [f"## {metric}", "", markdown_table(result["systems"], metric), ""]
    if result.get("stages"):
        out += ["## seconds per stage", "", "| stage | seconds |", "|---|---|"]
        out += [f"| {stage} | {seconds:.0f} |" for stage, seconds in result["stages"].items()]
        out.append("")
    wrong = [c for c in result["cases"] if not c["ranking"]]
    if wrong and misses:
        out += ["## ranking misses (closest first)", "", "| system | case | kind | question | best alias | beat by | margin |",
                "|---|---|---|---|---|---|---|"]
        for c in sorted(wrong, key=lambda c: -c["margin"])[:misses]:
            q = c["question"].replace("|", "\\|")
            out.append(f"| {c['system']} | {c['case']} | {c['kind']} | {q} | {c['best_alias']} | "
                       f"{c['best_distractor']} | {c['margin']:.2f} |")
        out.append("")
    return "\n".join(out)
