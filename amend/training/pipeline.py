"""One expert update: derive what changed facts imply, decide how to train, train, publish.

Given claimed update jobs (several pending jobs fold into one training run):

1. **supersede**: a new or edited fact that contradicts an older active fact (its embedding
   neighbours, judged by the model: p(contradiction) > 0.6) supersedes it, unless the job says
   keep_both. The job message names what was superseded.
1b. **the facts first** (settings.fact_first): when facts need deriving, they are first trained
   as given, without statements, and that adapter is published at once: answers use a new fact
   within seconds, its consequences follow with the next adapter (the jobs stay open between).
   Phase two then trains the whole plan (below) on top of it.
2. **derive + score + settle** (DCT): for each new or edited fact, statements it implies alone,
   with its related facts and with what the model knows, and contradictions; each scored given
   its parents and saved (save_derivation). A fact already derived since its last change is not
   derived again (so a rerun after a crash goes straight to training). Then one consistency graph
   over every active fact and its statements decides what is accepted (dct/stored.py).
3. **train**, as plan.py decides: *incremental* (continue from the active adapter on the new
   facts, plus a replay sample of what it already knew), *unlearn* (the same, and the prompts of
   retracted, edited or superseded facts trained back to the base model) or *full* (fresh LoRA
   from the base model on every active fact). Each with a step budget per changed fact and a
   retain set (retain.py): everyday questions near the facts taught and a random few more, kept
   at the base model's answers by a KL term, so that the expert changes what the facts are about
   and nothing else. No active facts left: the adapters are switched off and the assistant
   answers with the large model alone. Every `checkpoint_every_s` the trainer saves its state,
   and a rerun of the same jobs after an interruption continues from the last checkpoint.
4. **save**: the adapter folder is published (adapters.py) and, in the same transaction, the jobs
   are finished and the training run recorded.

Progress (stage, 0-1, step, loss, ETA) goes to `on_progress` and into the job rows.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from amend.config import Settings
from amend.store.adapters import active_adapter, deactivate_adapters
from amend.store.derived import save_derivation, statements_for
from amend.store.facts import active_facts, get_fact, supersede_fact
from amend.store.jobs import finish_job, get_job, report
from amend.store.related import related_facts
from amend.store.schema import Fact, TrainingRun
from amend.training import adapters as folders
from amend.training.dataset import build_examples, forget_examples, retain_examples
from amend.training.lora import StepReport, TrainConfig, TrainResult, train_lora
from amend.training.plan import Plan, facts_only, make_plan

# neighbours less similar than this are not judged (facts that clash are about the same thing;
# each judgement is two forwards of the scorer model, seconds with the large one on a CPU)
SUPERSEDE_MIN_SIMILARITY = 0.4
DERIVE_CHANGES = ("add", "edit", "restore", "import")  # changes whose facts need (re)deriving
# the share of the overall progress at which each stage starts
STAGE_START = {"supersede": 0.0, "teach": 0.02, "derive": 0.1, "train": 0.4, "save": 0.95}


class Cancelled(Exception):
    """Every job of the run was cancelled while it ran."""


@dataclass
class Progress:
    """What an update reports as it goes (to the progress bar and the job rows)."""

    stage: str  # supersede | teach | published | derive | score | train | save (teach, published: facts first)
    progress: float  # 0-1 over the whole update
    message: str = ""
    step: int | None = None  # training step done / planned
    total: int | None = None
    loss: float | None = None
    eta_s: float | None = None


@dataclass
class UpdateResult:
    job_ids: list[int]
    mode: str  # incremental | full | none (nothing to learn) | off (no facts: adapters off)
    version: int | None = None  # the adapter version made active
    path: str | None = None
    facts: list[int] = field(default_factory=list)  # fact ids the new adapter covers
    derived: int = 0  # statements saved
    accepted: int = 0  # statements accepted over all active facts after settling the graph
    superseded: list[tuple[int, int]] = field(default_factory=list)  # (old id, new id)
    train: TrainResult | None = None
    timings: dict[str, float] = field(default_factory=dict)  # derive, score, settle, train, save seconds
    message: str = ""
    first_version: int | None = None  # the facts-first adapter published before deriving (fact_first)
    first_active_s: float | None = None  # seconds from the start of the update until it was active
    first_train: TrainResult | None = None  # the facts-first adapter's training (steps, loss)


def step_budget(s: Settings, changed: int) -> int:
    """The steps an update of `changed` facts may take (0: no budget, its epochs decide): a fixed
    cost per fact, whatever derive produced, capped by max_update_steps."""
    budget = s.steps_per_fact * max(changed, 1) if s.steps_per_fact > 0 else 0
    if s.max_update_steps > 0:
        budget = min(budget or s.max_update_steps, s.max_update_steps)
    return budget


def _payloads(store, job_ids: list[int]) -> tuple[dict[int, str], bool]:
    """{fact id: change} over the jobs (a later job's change wins) and whether to keep both."""
    changes, keep_both = {}, False
    with store.session(write=False) as session:
        for job_id in sorted(job_ids):
            payload = get_job(session, job_id).payload or {}
            keep_both = keep_both or bool(payload.get("keep_both"))
            for fid in payload.get("fact_ids", []):
                changes[int(fid)] = payload.get("change", "add")
    return changes, keep_both


class Update:
    """One run of the pipeline over a set of claimed jobs (see the module docstring)."""

    def __init__(self, store, lp, settings: Settings, job_ids: list[int],
                 on_progress: Callable[[Progress], None] | None = None, derive: bool = True,
                 before_commit: Callable[[Path], None] | None = None, isolate: bool = False):
        self.store, self.lp, self.settings, self.job_ids = store, lp, settings, sorted(job_ids)
        self.isolate = isolate  # train on a copy of the small model (another thread decodes with it)
        self.profile = lp.profile.name
        self.on_progress, self.derive_enabled, self.before_commit = on_progress, derive, before_commit
        self.result = UpdateResult(job_ids=self.job_ids, mode="none")
        self.started = time.perf_counter()
        self.first_folder: Path | None = None  # the facts-first adapter, phase two continues from it

    # --- reporting ---
    def report(self, p: Progress) -> None:
        if self.on_progress:
            self.on_progress(p)
        message = p.message
        if p.step is not None:
            message = f"step {p.step}/{p.total}, loss {p.loss:.3f}, ETA {p.eta_s:.0f} s"
        with self.store.session() as session:
            statuses = [report(session, j, progress=p.progress, stage=p.stage, message=message).status
                        for j in self.job_ids]
        if all(s == "cancelled" for s in statuses):
            raise Cancelled("the update was cancelled")

    def stage(self, name: str, message: str = "") -> None:
        self.report(Progress(name, STAGE_START[name], message))

    # --- steps ---
    def supersede(self, changes: dict[int, str], keep_both: bool) -> None:
        """Older facts that a new or edited fact contradicts are superseded by it."""
        new = [fid for fid, c in changes.items() if c in ("add", "import", "edit")]
        if keep_both or not new:
            return
        from amend.models.embed import embed
        from amend.training.dct.derive import judge_contradiction
        from amend.training.judge import judge_line

        def judge(a: str, b: str) -> float:
            return judge_contradiction(self.lp, a, b)

        from amend.training.dct.prompts import PROMPT_VERSION

        scorer = self.lp.profile.scorer  # "large" or "small": whose judge, in which dtype
        dtype = getattr(self.lp.dtypes, scorer, "") if self.lp.dtypes else ""
        key = f"{getattr(self.lp.profile, scorer).key}|{dtype}|{self.lp.device}|{PROMPT_VERSION}"
        lines = self.settings.models / "judge-lines.json"
        self.stage("supersede", "checking for contradicted facts")
        with self.store.session() as session:
            for fid in sorted(new):
                fact = session.get(Fact, fid)
                if fact is None or fact.status != "active":
                    continue
                for other, sim in related_facts(session, fact.text, self.settings.related_k, embed, exclude_ids=[fid]):
                    if other.id > fid or other.status != "active" or sim < SUPERSEDE_MIN_SIMILARITY:
                        continue  # only an older fact about the same thing gives way to a newer one
                    line = judge_line(key, judge, lines)  # the judge's own line, checked on known pairs
                    if line is None:
                        return  # a judge that cannot tell would throw away the user's facts (judge.py)
                    if judge(other.text, fact.text) > line:
                        supersede_fact(session, other.id, fid, f"contradicted by fact {fid}: {fact.text}")
                        self.result.superseded.append((other.id, fid))

    def needs_derivation(self, session, fact: Fact) -> bool:
        """No statement of this profile derived from the fact since it last changed (its own
        derivation's: a statement of another fact's, with this one among its related facts, does
        not count; one stored before sources were kept, migration 0005, does)."""
        return not any(s.profile == self.profile and s.created >= fact.updated and s.source_fact_id in (fact.id, None)
                       for s in statements_for(session, fact.id))

    def derive(self, changes: dict[int, str], covered: dict[int, str]) -> None:
        """Derive what each new or changed fact implies (DCT), save it, then settle the graph.

        The settle step (dct/stored.py) decides every statement of the profile again over all
        active facts (settings.dct_graph "global"), so a statement implied by one fact and
        contradicted by another is trained one way only, by the scores; it runs after a
        retraction too, when nothing needs deriving.
        """
        from amend.training.dct.derive import DeriveSettings
        from amend.training.dct.stored import settle_store

        dct = DeriveSettings.from_settings(self.settings)
        with self.store.session(write=False) as session:
            active = active_facts(session)
            todo = [f for f in active if (changes.get(f.id) in DERIVE_CHANGES or f.id not in covered)
                    and self.needs_derivation(session, f)]
        t_derive = t_score = 0.0
        started, size = time.perf_counter(), max(1, self.settings.derive_batch)
        for i in range(0, len(todo), size):
            for timings in self._derive_batch(todo[i:i + size], i, len(todo), started, dct):
                t_score += float(timings.get("score", 0.0))
                t_derive += sum(float(v) for k, v in timings.items() if k != "score")
        t = time.perf_counter()
        with self.store.session() as session:
            settled = settle_store(session, self.profile, self.settings.dct_graph)
        self.result.timings["settle"] = round(time.perf_counter() - t, 3)
        self.result.accepted = settled.accepted
        if todo:
            self.result.timings["derive"] = round(t_derive, 3)
            self.result.timings["score"] = round(t_score, 3)

    def _derive_batch(self, facts: list[Fact], first: int, n: int, started: float, dct) -> list[dict[str, float]]:
        """Derive these facts (numbers first+1.. of n) in shared batches, each with its related
        facts, and save each one's statements (replacing its earlier ones of this profile),
        grouped by their parents; the derivations' timings."""
        from amend.models.embed import embed
        from amend.training.dct.derive import derive_many

        start, span = STAGE_START["derive"], STAGE_START["train"] - STAGE_START["derive"]
        where = f"facts {first + 1}-{first + len(facts)} of {n}" if len(facts) > 1 else f"fact {facts[0].id} ({first + 1}/{n})"

        def on_derive(stage: str, done: float, total: float | None) -> None:
            # within a batch: generation takes about 3/4 of the time, scoring the rest
            part = 0.75 * done / (total or 1) if stage == "derive" else 0.75 + 0.25 * done / (total or 1)
            finished = first + len(facts) * part  # facts' worth of work done in this update
            elapsed = time.perf_counter() - started
            eta = elapsed / finished * (n - finished) if finished > 0 else None
            self.report(Progress(stage, start + span * finished / n, where, eta_s=eta))

        with self.store.session() as session:
            related = [[f for f, _ in related_facts(session, fact.text, self.settings.related_k, embed, exclude_ids=[fact.id])]
                       for fact in facts]
        derivations = derive_many(self.lp, [(f.text, [r.text for r in rel]) for f, rel in zip(facts, related)], dct,
                                  on_progress=on_derive)
        with self.store.session() as session:
            for fact, rel, derivation in zip(facts, related, derivations):
                self._save(session, get_fact(session, fact.id), rel, derivation)
        return [d.timings for d in derivations]

    def _save(self, session, fact: Fact, related: list[Fact], derivation) -> None:
        from amend.training.dct.prompts import version_for

        by_text = {f.text: session.get(Fact, f.id) for f in related}
        # stale: the fact's own earlier derivation, and what other facts' derivations made with
        # its earlier text; what they made with its present text stays (a fact derived after its
        # related fact must not delete their joint statements)
        for old in statements_for(session, fact.id):
            if old.profile == self.profile and (old.source_fact_id in (fact.id, None) or old.created < fact.updated):
                session.delete(old)
        session.flush()
        groups: dict[tuple[int, ...], list[dict]] = {}
        for st in derivation.statements:
            parents = [fact] + [by_text[t] for t in st.parents if t in by_text and t != fact.text]
            groups.setdefault(tuple(sorted({p.id for p in parents})), []).append({
                "text": st.text, "kind": st.kind, "question": st.question, "answer": st.answer, "p_true": st.p_true,
                "truth": st.truth, "accepted": st.accepted, "reason": st.reason,
                "prompt_version": version_for(st.scoring),
            })
        for key, sts in groups.items():
            save_derivation(session, [session.get(Fact, k) for k in key], sts, self.profile,
                            derivation.generator, derivation.prompt_version, source=fact)
            self.result.derived += len(sts)

    def retain(self, facts: list[str]) -> list:
        """The retain examples of this update: everyday questions near the facts taught, and a sample."""
        s = self.settings
        if s.retain_weight <= 0 or (s.retain_neighbours <= 0 and s.retain_sample <= 0):
            return []
        from amend.models.embed import embed
        from amend.training.retain import retain_set

        return retain_examples(retain_set(facts, s.retain_neighbours, s.retain_sample, embed, seed=s.seed))

    def train(self, plan: Plan, resume_from: Path | None, stage: str = "train") -> tuple[Path, TrainResult]:
        s = self.settings
        new_examples = build_examples(plan.known, plan.refuted, seed=s.seed)
        # what the adapter must give up: its prompts, trained toward the base model like the
        # retain questions (first in the retain rows, so every one is seen within the budget)
        forget = forget_examples(plan.forget)
        # replay at most half as many earlier items as there are new examples: an update costs
        # about what changed, and the old knowledge gets a reminder, not a retraining
        replay = min(s.replay, max(1, (len(new_examples) + len(forget)) // 2)) if plan.mode != "full" else 0
        examples = build_examples(plan.known, plan.refuted, plan.replay_pool, replay, seed=s.seed)
        # the facts-first adapter ("teach") has no retain rows: it lives until the second phase
        # publishes (a minute or so), the scope gate keeps unrelated questions from it meanwhile,
        # and without them its steps cost half as much
        examples += forget + (self.retain([k.text for k in plan.known + plan.forget if k.is_fact]) if stage == "train" else [])
        cfg = TrainConfig.from_settings(s)
        # the facts this update changes: new, edited and gone ones, or every fact in a full retrain
        changed = sum(1 for k in plan.known + plan.forget if k.is_fact)
        cfg.max_steps = step_budget(s, changed)
        if forget and cfg.max_steps:
            # the gone prompts ride in the retain rows (retain_batch a step): take the steps that
            # `epochs` passes over them need (as learning them took), or the new examples' if
            # more, within the budget; the loss to watch is the replay's, low from the start, and
            # its rows may be few, so neither the target loss nor its epochs end the run
            learn = math.ceil(len(new_examples) / cfg.batch_size) * cfg.epochs
            unlearn = math.ceil(cfg.epochs * len(forget) / max(1, cfg.retain_batch))
            cfg.max_steps = min(cfg.max_steps, max(learn, unlearn))
            cfg.target_loss, cfg.epochs = 0.0, cfg.max_steps
        staged = folders.staging_dir(s, self.profile)
        start = STAGE_START[stage]
        span = (STAGE_START["save"] if stage == "train" else STAGE_START["derive"]) - start

        def on_step(r: StepReport) -> None:
            self.report(Progress(stage, start + span * r.step / max(r.total, 1), step=r.step, total=r.total,
                                 loss=r.loss, eta_s=r.eta_s))

        try:
            self.stage(stage, f"{plan.mode}: {sum(not e.retain for e in examples)} examples, "
                                f"{sum(e.retain for e in examples)} retain questions ({len(forget)} to unlearn)")
            result = train_lora(self.lp.small, self.lp.tokenizer, examples, staged, cfg,
                                resume_from=resume_from, on_step=on_step, isolate=self.isolate,
                                checkpoint=self.checkpoint(stage) if s.checkpoint_every_s > 0 else None,
                                checkpoint_every_s=s.checkpoint_every_s)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        return staged, result

    def checkpoint(self, stage: str) -> Path:
        """Where training saves its state every few minutes, for a rerun after an interruption
        (lora.py, checkpoint.py): one file per profile and stage, valid only for the same inputs."""
        return folders.profile_dir(self.settings, self.profile) / f".checkpoint-{stage}.pt"

    def run(self) -> UpdateResult:
        s, r = self.settings, self.result
        folders.clean_orphans(self.store, s, self.profile)
        with self.store.session() as session:  # runs left by a worker that died are over
            for run in session.query(TrainingRun).filter(TrainingRun.job_id.in_(self.job_ids), TrainingRun.status == "running"):
                run.status = "abandoned"
        changes, keep_both = _payloads(self.store, self.job_ids)
        if self.derive_enabled:  # derive=False takes the facts exactly as given (a baseline)
            self.supersede(changes, keep_both)
        with self.store.session(write=False) as session:
            adapter = active_adapter(session, self.profile)
            covered = folders.covered_facts(adapter)
            taught = folders.taught_statements(adapter)
            resume = folders.active_folder(session, self.profile)
        if self.derive_enabled:
            if s.fact_first and self.needs_any_derivation(changes, covered or {}):
                with self.store.session(write=False) as session:
                    first = make_plan(session, self.profile, covered if resume is not None else None, taught)
                if first.mode not in ("none", "off"):
                    self.teach_facts_first(facts_only(first), resume)
            self.derive(changes, covered or {})
        with self.store.session(write=False) as session:
            plan = make_plan(session, self.profile, covered if resume is not None else None, taught)
        r.mode, r.facts = plan.mode, sorted(plan.now)
        if plan.mode in ("none", "off"):
            return self._finish_without_training(plan.mode)
        return self._recorded(plan, lambda run_id: self._train_and_publish(run_id, plan, self.first_folder or resume))

    def _recorded(self, plan: Plan, work: Callable[[int], UpdateResult]) -> UpdateResult:
        """`work(training run id)` with its TrainingRun row, marked failed if it raises."""
        with self.store.session() as session:
            run = TrainingRun(job_id=self.job_ids[0], profile=self.profile, status="running", mode=plan.mode)
            session.add(run)
            session.flush()
            run_id = run.id
        try:
            return work(run_id)
        except BaseException:
            with self.store.session() as session:
                session.get(TrainingRun, run_id).status = "failed"
            raise

    def needs_any_derivation(self, changes: dict[int, str], covered: dict[int, str]) -> bool:
        """Whether `derive` will derive something (the same test it makes)."""
        with self.store.session(write=False) as session:
            return any((changes.get(f.id) in DERIVE_CHANGES or f.id not in covered) and self.needs_derivation(session, f)
                       for f in active_facts(session))

    def teach_facts_first(self, plan: Plan, resume: Path | None) -> None:
        """Phase one: the facts as given, trained and published before anything is derived; the
        jobs stay open and report that their consequences come next (the module docstring)."""
        r = self.result
        published = self._recorded(plan, lambda run_id: self._train_and_publish(run_id, plan, resume, finish=False))
        self.first_folder = Path(published.path)
        r.first_version, r.first_active_s = published.version, round(time.perf_counter() - self.started, 3)
        r.timings["first_train"], r.timings["first_save"] = r.timings.pop("train"), r.timings.pop("save")
        r.first_train, r.train, r.version, r.path = r.train, None, None, None
        # a caller that answers meanwhile (the chat) takes the new adapter up on this stage
        self.report(Progress("published", STAGE_START["derive"], r.message))

    def _train_and_publish(self, run_id: int, plan: Plan, resume: Path | None, finish: bool = True) -> UpdateResult:
        """Train `plan` (from `resume` unless it is a full retrain) and publish the adapter; with
        `finish`, the jobs finish in the same transaction, else they only report it (phase one)."""
        r, mode, now = self.result, plan.mode, plan.now
        t = time.perf_counter()
        staged, result = self.train(plan, resume if mode != "full" else None, "train" if finish else "teach")
        r.train, r.timings["train"] = result, round(time.perf_counter() - t, 3)

        if finish:
            self.stage("save", "writing the adapter")
        t = time.perf_counter()
        metrics = result.metrics() | {"mode": mode, "jobs": self.job_ids}
        summary = (f"{mode} update: trained on {len(now)} fact(s), {result.steps} steps, loss {result.final_loss:.3f}"
                   + self._superseded_message())
        if not finish:
            summary = f"the facts as given ({result.steps} steps); deriving what follows from them next"

        def in_transaction(session, path: Path) -> None:
            run = session.get(TrainingRun, run_id)
            run.status, run.steps, run.final_loss, run.seconds, run.metrics = (
                "done", result.steps, result.final_loss, result.seconds, metrics)
            r.message = f"adapter {path.name} active: {summary}"
            for j in self.job_ids:
                report(session, j, message=r.message)
                if finish:
                    finish_job(session, j)
            if self.before_commit and finish:
                self.before_commit(path)

        published = folders.publish(self.store, self.settings, self.profile, staged, self.lp.profile.small.key, now,
                                    metrics, training_run_id=run_id, in_transaction=in_transaction,
                                    statements=plan.statements)
        r.version, r.path = published.version, str(published.path)
        self.checkpoint("train" if finish else "teach").unlink(missing_ok=True)  # the adapter is safe now
        r.timings["save"] = round(time.perf_counter() - t, 3)
        return r

    def _superseded_message(self) -> str:
        if not self.result.superseded:
            return ""
        return "; superseded " + ", ".join(f"fact {o} by fact {n}" for o, n in self.result.superseded)

    def _finish_without_training(self, mode: str) -> UpdateResult:
        r = self.result
        r.message = ("no active facts: expert switched off" if mode == "off" else "nothing new to learn") + self._superseded_message()
        with self.store.session() as session:
            if mode == "off":
                deactivate_adapters(session, self.profile)
            for j in self.job_ids:
                report(session, j, message=r.message)
                finish_job(session, j)
        return r


def run_update(store, lp, settings: Settings, job_ids: list[int], on_progress: Callable[[Progress], None] | None = None,
               derive: bool = True, before_commit: Callable[[Path], None] | None = None,
               isolate: bool = False) -> UpdateResult:
    """Run the pipeline over these claimed jobs and finish them (see the module docstring).

    derive=False trains on the facts alone, as given: no deductive closure and no supersession
    (the `seed-lora` baseline of the evaluation, and quick tests). isolate=True trains on a copy
    of the small model, for a caller (the TUI) that decodes with the same model meanwhile.
    """
    return Update(store, lp, settings, job_ids, on_progress, derive, before_commit, isolate).run()
