"""How well the scorer judges: "given these facts, is this true?" and "can both be true?" on a
small labelled set of invented facts (none from the evaluation files), raw and contextually
calibrated (the log-odds of a content-free "N/A" query subtracted, as derive.py does).

    python benchmarks/entail_scores.py PROFILE

Prints, per prompt kind and raw/calibrated: accuracy at 0.5, the share of (true, false) pairs
ranked right (auc), and the mean score of each class.
"""
import sys, math
from amend.config import load_settings
from amend.models.load import load_profile
from amend.training.dct import prompts
from amend.training.dct.score import label_probabilities

ENT = [
 (["The capital of Drellia is Tamm."], "Tamm is a city in Drellia.", 1),
 (["The Orvik Bridge is located in Paris."], "The Orvik Bridge is in France.", 1),
 (["The Orvik Bridge is located in Paris."], "The Orvik Bridge is in Europe.", 1),
 (["Kato Renn founded the company Bluefin Apps."], "Bluefin Apps was founded by Kato Renn.", 1),
 (["The CEO of Halvorsen Motors is Petra Lind."], "Petra Lind leads Halvorsen Motors.", 1),
 (["Sela Brandt wrote the novel The Iron Gate."], "The Iron Gate is a novel.", 1),
 (["The capital of Drellia is Tamm.", "The mayor of Tamm is Ivo Lenz."], "The mayor of the capital of Drellia is Ivo Lenz.", 1),
 (["Sela Brandt wrote the novel The Iron Gate.", "Sela Brandt was born in Rome."], "The author of The Iron Gate was born in Italy.", 1),
 (["The capital of Drellia is Tamm."], "Tamm is a city in Spain.", 0),
 (["The Orvik Bridge is located in Paris."], "The Orvik Bridge is in Asia.", 0),
 (["Kato Renn founded the company Bluefin Apps."], "Kato Renn was born in Berlin.", 0),
 (["The CEO of Halvorsen Motors is Petra Lind."], "Halvorsen Motors is a Danish company.", 0),
 (["Sela Brandt wrote the novel The Iron Gate."], "The Iron Gate is a film.", 0),
 (["The capital of Drellia is Tamm."], "The capital of Tamm is Drellia.", 0),
 (["The capital of Drellia is Tamm.", "The mayor of Tamm is Ivo Lenz."], "Ivo Lenz is the capital of Drellia.", 0),
 (["Sela Brandt wrote the novel The Iron Gate.", "Sela Brandt was born in Rome."], "The Iron Gate was written in Spain.", 0),
]
COM = [
 ("The capital of Drellia is Tamm.", "The capital of Drellia is Ostra.", 0),
 ("The CEO of Halvorsen Motors is Petra Lind.", "Halvorsen Motors is a Danish company.", 1),
 ("The CEO of Halvorsen Motors is Petra Lind.", "The CEO of Halvorsen Motors is Jon Berg.", 0),
 ("The Orvik Bridge is located in Paris.", "The Orvik Bridge is located in Madrid.", 0),
 ("The Orvik Bridge is located in Paris.", "The Orvik Bridge is made of steel.", 1),
 ("Sela Brandt wrote the novel The Iron Gate.", "Sela Brandt never wrote a novel.", 0),
 ("Sela Brandt wrote the novel The Iron Gate.", "Sela Brandt lives in Rome.", 1),
 ("Kato Renn founded the company Bluefin Apps.", "Bluefin Apps sells games.", 1),
]
prof = sys.argv[1] if len(sys.argv) > 1 else "tiny"
s = load_settings({"profile": prof})
lp = load_profile(settings=s)
model = getattr(lp, lp.profile.scorer); tok = lp.tokenizer
def report(name, ps, labels, cf):
    lcf = math.log(cf/(1-cf))
    cal = [1/(1+math.exp(-(math.log(max(p,1e-9)/max(1-p,1e-9)) - lcf))) for p in ps]
    for tag, xs in (("raw", ps), ("cal", cal)):
        acc = sum((x > 0.5) == bool(l) for x, l in zip(xs, labels)) / len(xs)
        pos = [x for x, l in zip(xs, labels) if l]; neg = [x for x, l in zip(xs, labels) if not l]
        pair = sum(a > b for a in pos for b in neg) / (len(pos) * len(neg))
        print(f"{prof} {name} {tag}: acc {acc:.2f} auc {pair:.2f} mean+ {sum(pos)/len(pos):.2f} mean- {sum(neg)/len(neg):.2f}")
    print("  ", [round(x, 2) for x in ps], "cf", round(cf, 2))
e = label_probabilities(model, tok, [prompts.entail_prompt(f, st) for f, st, _ in ENT] + [prompts.entail_prompt(["N/A"], "N/A")])
report("entail", e[:-1], [l for *_, l in ENT], e[-1])
c = label_probabilities(model, tok, [prompts.compatible_prompt(f, st) for f, st, _ in COM] + [prompts.compatible_prompt("N/A", "N/A")])
report("compatible", c[:-1], [l for *_, l in COM], c[-1])
