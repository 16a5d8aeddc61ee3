"""A synthetic but readable item bank: topics with blueprint codes and ~300 single-best-answer
items written from `demo.knowledge`, with true 3PL parameters kept aside for evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from demo.knowledge import AGES_SEXES, SYSTEMS, Disease, Drug, System

DISCIPLINES = {"PHAR": "Pharmacology", "PATH": "Pathology", "MGMT": "Management"}
LABELS = "ABCDE"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    blueprint_code: str
    parent_code: str | None


@dataclass
class ItemSpec:
    external_ref: str
    topic_code: str
    stem_md: str
    lead_in: str
    options: list[str]
    correct_label: str
    rationale_md: str
    difficulty_label: str
    bloom_level: int
    tags: dict
    # True 3PL parameters (logistic metric): never sent to the API, used only to simulate
    # students and to measure calibration recovery.
    a: float = 0.0
    b: float = 0.0
    c: float = 0.0
    references: list[str] = field(default_factory=list)

    def payload(self) -> dict:
        """The authoring API's create-question body."""
        return {
            "external_ref": self.external_ref,
            "stem_md": self.stem_md,
            "lead_in": self.lead_in,
            "options": [{"label": LABELS[i], "text_md": t} for i, t in enumerate(self.options)],
            "correct_label": self.correct_label,
            "rationale_md": self.rationale_md,
            "difficulty_label": self.difficulty_label,
            "bloom_level": self.bloom_level,
            "tags": self.tags,
            "references": self.references,
        }


def topics() -> list[TopicSpec]:
    out = []
    for s in SYSTEMS:
        out.append(TopicSpec(s.name, s.code, None))
        out += [TopicSpec(name, f"{s.code}-{code}", s.code) for code, name in DISCIPLINES.items()]
    return out


def _patient(rng: np.random.Generator) -> str:
    age, sex = AGES_SEXES[rng.integers(len(AGES_SEXES))]
    return f"A {age}-year-old {sex}"


def _choices(rng, correct: str, pool: list[str], n_same: int) -> tuple[list[str], str]:
    """Four distractors, from the same organ system (the first `n_same` of `pool`) when it has
    enough, so options are plausible rather than absurd."""
    same = [p for p in dict.fromkeys(pool[:n_same]) if p != correct]
    other = [p for p in dict.fromkeys(pool[n_same:]) if p != correct and p not in same]
    picked = list(rng.choice(same, size=min(4, len(same)), replace=False))
    if len(picked) < 4:
        picked += list(rng.choice(other, size=4 - len(picked), replace=False))
    options = [correct, *picked]
    rng.shuffle(options)
    return options, LABELS[options.index(correct)]


def _drug_items(rng, s: System, d: Drug, everything: list[Drug]) -> list[tuple]:
    same = [x for x in s.drugs]
    pool = same + [x for x in everything if x not in same]
    who = _patient(rng)
    return [
        (
            "mech",
            "PHAR",
            2,
            f"{who} with {d.indication} is started on **{d.name}**.",
            "Which of the following is the mechanism of action of this drug?",
            d.mechanism,
            [x.mechanism for x in pool],
            f"**{d.name.capitalize()}** is a {d.drug_class}: {d.mechanism[0].lower()}{d.mechanism[1:]}.",
        ),
        (
            "ae",
            "PHAR",
            3,
            f"{who} has been taking **{d.name}** for {d.indication} for several months and returns "
            "for follow-up.",
            "This patient is at greatest risk of which of the following adverse effects?",
            d.adverse_effect,
            [x.adverse_effect for x in pool],
            f"A characteristic adverse effect of {d.name} ({d.drug_class}) is "
            f"*{d.adverse_effect.lower()}*.",
        ),
        (
            "ind",
            "PHAR",
            3,
            f"{who} is diagnosed with {d.indication}. The physician wants a {d.drug_class}.",
            "Which of the following drugs is most appropriate?",
            d.name,
            [x.name for x in pool],
            f"{d.name.capitalize()} is the {d.drug_class} of choice here; it "
            f"{d.mechanism[0].lower()}{d.mechanism[1:]}.",
        ),
        (
            "class",
            "PHAR",
            1,
            f"{who} is prescribed **{d.name}**.",
            "To which drug class does it belong?",
            d.drug_class,
            [x.drug_class for x in pool],
            f"{d.name.capitalize()} is a {d.drug_class}.",
        ),
    ]


def _disease_items(rng, s: System, d: Disease, everything: list[Disease]) -> list[tuple]:
    same = list(s.diseases)
    pool = same + [x for x in everything if x not in same]
    who = _patient(rng)
    return [
        (
            "dx",
            "PATH",
            3,
            f"{who} presents with {d.findings}.",
            "Which of the following is the most likely diagnosis?",
            d.name.capitalize(),
            [x.name.capitalize() for x in pool],
            f"{d.findings.capitalize()} point to **{d.name}**. Mechanism: {d.mechanism.lower()}.",
        ),
        (
            "patho",
            "PATH",
            4,
            f"{who} presents with {d.findings}. Workup confirms {d.name}.",
            "Which of the following best explains the underlying mechanism?",
            d.mechanism,
            [x.mechanism for x in pool],
            f"In {d.name}: {d.mechanism[0].lower()}{d.mechanism[1:]}.",
        ),
        (
            "tx",
            "MGMT",
            4,
            f"{who} presents with {d.findings}. The diagnosis of {d.name} is confirmed.",
            "Which of the following is the most appropriate next step in management?",
            d.treatment,
            [x.treatment for x in pool],
            f"Management of {d.name}: {d.treatment[0].lower()}{d.treatment[1:]}.",
        ),
    ]


def generate_bank(
    seed: int = 2026, max_items: int | None = None
) -> tuple[list[TopicSpec], list[ItemSpec]]:
    """Topics and items in a stable order; `max_items` keeps a spread across systems."""
    rng = np.random.default_rng(seed)
    all_drugs = [d for s in SYSTEMS for d in s.drugs]
    all_diseases = [d for s in SYSTEMS for d in s.diseases]
    items: list[ItemSpec] = []
    for s in SYSTEMS:
        raw = [t for d in s.drugs for t in _drug_items(rng, s, d, all_drugs)]
        raw += [t for d in s.diseases for t in _disease_items(rng, s, d, all_diseases)]
        for kind, disc, bloom, stem, lead, correct, pool, why in raw:
            n_same = len(s.drugs) if disc == "PHAR" else len(s.diseases)
            options, label = _choices(rng, correct, pool, n_same)
            b = float(rng.normal(0, 1))
            # The author's label is a noisy guess at the true difficulty.
            guess = b + rng.normal(0, 0.5)
            difficulty = "easy" if guess < -0.5 else "hard" if guess > 0.5 else "medium"
            items.append(
                ItemSpec(
                    external_ref=f"{s.code}-{len(items) + 1:04d}",
                    topic_code=f"{s.code}-{disc}",
                    stem_md=stem,
                    lead_in=lead,
                    options=options,
                    correct_label=label,
                    rationale_md=f"{why}\n\nThe other options describe related but different "
                    "entities of the same organ system.",
                    difficulty_label=difficulty,
                    bloom_level=bloom,
                    tags={"system": s.code, "kind": kind},
                    a=float(rng.lognormal(np.log(1.2), 0.25)),
                    b=b,
                    c=float(rng.uniform(0.10, 0.25)),
                )
            )
    if max_items is not None and max_items < len(items):
        keep = np.linspace(0, len(items) - 1, max_items).round().astype(int)
        items = [items[i] for i in keep]
    return topics(), items
