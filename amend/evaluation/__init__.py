"""amend.evaluation: `amend eval`, the measure of whether amend works.

- cases.py: the JSON-lines case format (facts, probes of four kinds), checked line by line;
- mquake.py: MQuAKE cases converted into that format;
- metrics.py: generation and ranking scores of a probe, means per system and kind;
- systems.py: the five systems (large, context, seed-lora, dct, dct+context) as answerers;
- runner.py: cases through systems, each case in temporary stores of its own;
- report.py: the terminal tables and the Markdown report.
"""
