"""The learned second stage: word and character n-grams, weighed by logistic regression.

The rules (``engine``) are precise and explain themselves, but they can only find the ways of
speaking someone wrote down. This model reads the whole message and carries recall on text the
team has never seen. It is chosen by measurement (``docs/moderation.md``): on held-out sources,
n-grams beat frozen sentence embeddings; a fine-tuned transformer reader (``encoder``) does
better still and joins them when the artifact was trained with it.

Shape follows scikit-learn's estimators: ``CrisisModel.fit`` learns, ``predict_proba`` scores,
and neither does I/O. ``Detector`` is a fitted model with the thresholds chosen for it by
cross-validation; ``Detector.save`` and ``load`` write and read the versioned artifact, which
records the hash of the data it was trained on and the figures it scored. Loading refuses an
artifact written for another feature set, so code and artifact cannot silently disagree.

The level is ordinal, so the model learns three yes/no questions (is it watch or above, urgent
or above, an emergency) rather than four unrelated classes; the category is a separate question
learned from the messages that carry one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from .encoder import ARTIFACT as ENCODER_ARTIFACT
from .encoder import Encoder, EncoderError
from .encoder import load as load_encoder
from .lexicon import RANK
from .normalize import normalize

# Bump when the features or the file layout change: an artifact of another version is refused.
FEATURES_VERSION = 1
ARTIFACT = Path(__file__).parent / "data" / "model.npz"
HEADS = ("watch", "urgent", "emergency")  # P(level >= head)
CATEGORIES = ("self_harm", "harm_others", "abuse_danger")

# The two views of a message: words and word pairs, and character runs inside word
# boundaries, which survive misspellings ("overdoes", "kil myself") and glued words.
ANALYZERS: dict[str, dict[str, Any]] = {
    "word": {
        "analyzer": "word",
        "ngram_range": (1, 2),
        "min_df": 1,
        "token_pattern": r"(?u)\b\w+\b",
    },
    "char": {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 2},
}


# Scored when the artifact is written and again by the tests: the same code on the same artifact
# must give the same probabilities, whichever machine reads it.
PROBES = (
    "see you all on thursday, take care",
    "i keep thinking everyone would be better off without me",
    "the pills are counted out on the counter and the kids are at their dad's tonight",
    "he said if i leave he will find me, and he has a gun in the truck",
    "this traffic is killing me lol",
    "i bought a bat and i know exactly when his shift ends",
)


class ArtifactError(RuntimeError):
    """The model file is missing or was written for other code: run ``make train-detector``."""


def prepare(text: str) -> str:
    """The form the model reads: the rules' normalization (case, leetspeak, spacing, emoji
    spelled out), so both stages see "k!ll mys3lf" and "kill myself" alike."""
    return normalize(text).text


class _Features:
    """TF-IDF over a fixed vocabulary, rebuilt exactly from the saved arrays.

    Sublinear term frequency, inverse document frequency (smoothed), then each view scaled to
    unit length; the views are concatenated. Written out rather than pickled so the artifact is
    plain arrays that any later scikit-learn reads the same way."""

    def __init__(self, vocabularies: dict[str, list[str]], idf: dict[str, np.ndarray]) -> None:
        self.vocabularies = vocabularies
        self.idf = idf
        self._index = {
            name: {term: i for i, term in enumerate(vocab)} for name, vocab in vocabularies.items()
        }
        self._counters = {
            name: CountVectorizer(
                **{k: v for k, v in ANALYZERS[name].items() if k != "min_df"},
                vocabulary=self._index[name],
                dtype=np.float64,
            )
            for name in vocabularies
        }
        self._analyzers = {name: c.build_analyzer() for name, c in self._counters.items()}
        starts = np.cumsum([0] + [len(v) for v in vocabularies.values()])
        self._offsets = dict(zip(vocabularies, starts.tolist(), strict=False))

    @classmethod
    def fit(cls, texts: Sequence[str]) -> _Features:
        vocabularies, idf = {}, {}
        for name, params in ANALYZERS.items():
            counter = CountVectorizer(**params, dtype=np.float64)
            counts = counter.fit_transform(texts)
            terms = sorted(counter.vocabulary_, key=counter.vocabulary_.__getitem__)
            df = np.bincount(counts.indices, minlength=len(terms))
            vocabularies[name] = terms
            idf[name] = np.log((1 + len(texts)) / (1 + df)) + 1.0
        return cls(vocabularies, idf)

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.vocabularies.values())

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        blocks = []
        for name, counter in self._counters.items():
            x = counter.transform(texts).tocsr()
            x.data = (1.0 + np.log(x.data)) * self.idf[name][x.indices]
            norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
            norms[norms == 0] = 1.0
            blocks.append(sparse.diags(1.0 / norms) @ x)
        return sparse.hstack(blocks, format="csr")

    def dot(self, texts: Sequence[str], weights: np.ndarray) -> np.ndarray:
        """``transform(texts) @ weights``, without building sparse matrices.

        The same numbers: each view's n-grams are looked up into flat arrays (row, column) and
        counted per cell, weighed and normalized per row, and each row's share of ``weights``
        summed with ``bincount``. A message scored alone, as the live reviewer often does,
        costs a fifth of what the sparse machinery costs, a batch of 50 about three quarters
        (``docs/performance.md``). Training keeps ``transform``."""
        n = len(texts)
        out = np.zeros((n, weights.shape[1]))
        for name, analyze in self._analyzers.items():
            index, size = self._index[name], len(self._index[name])
            rows: list[int] = []
            cols: list[int] = []
            for row, text in enumerate(texts):
                found = [col for col in map(index.get, analyze(text)) if col is not None]
                cols.extend(found)
                rows.extend([row] * len(found))
            if not cols:
                continue
            # One entry per (row, column), with how often the n-gram occurs in that row.
            cells, counts = np.unique(np.array(rows) * size + np.array(cols), return_counts=True)
            r, c = np.divmod(cells, size)
            w = (1.0 + np.log(counts)) * self.idf[name][c]
            w /= np.sqrt(np.bincount(r, w * w, minlength=n))[r]
            part = weights[c + self._offsets[name]] * w[:, None]
            for k in range(weights.shape[1]):
                out[:, k] += np.bincount(r, part[:, k], minlength=n)
        return out


def _logistic(C: float) -> LogisticRegression:  # noqa: N803 (scikit-learn's name)
    # Balanced weights: a crisis line is rarer than chat, and missing it costs far more.
    return LogisticRegression(C=C, class_weight="balanced", max_iter=5000)


@dataclass
class CrisisModel:
    """Estimator: ``fit(texts, levels, categories)``, then ``predict_proba`` gives for each text
    P(watch or above), P(urgent or above), P(emergency), and ``category_proba`` the share of
    self_harm, harm_others and abuse_danger. Texts are raw messages."""

    C: float = 4.0
    features: _Features | None = None
    level_coef: np.ndarray | None = None  # (features, 3)
    level_bias: np.ndarray | None = None  # (3,)
    category_coef: np.ndarray | None = None  # (features, 3)
    category_bias: np.ndarray | None = None  # (3,)
    # Both heads' weights side by side, made at the first score and dropped by `fit`: one
    # lookup per n-gram serves all six outputs, and the per-message path never copies them.
    _weights: np.ndarray | None = field(default=None, repr=False, compare=False)

    def fit(
        self, texts: Sequence[str], levels: Sequence[str], categories: Sequence[str]
    ) -> CrisisModel:
        prepared = [prepare(t) for t in texts]
        self.features = _Features.fit(prepared)
        self._weights = None
        x = self.features.transform(prepared)
        rank = np.array([RANK[lv] for lv in levels])
        coefs, biases = [], []
        for k in (1, 2, 3):
            clf = _logistic(self.C).fit(x, (rank >= k).astype(int))
            coefs.append(clf.coef_[0])
            biases.append(clf.intercept_[0])
        self.level_coef, self.level_bias = np.stack(coefs, 1), np.array(biases)
        cat = np.array([CATEGORIES.index(c) if c in CATEGORIES else -1 for c in categories])
        has = (rank >= 1) & (cat >= 0)
        # A category absent from the training data is never predicted (a very low bias).
        coef = np.zeros((x.shape[1], len(CATEGORIES)))
        bias = np.full(len(CATEGORIES), -30.0)
        present = np.unique(cat[has])
        if len(present) == 1:
            bias[present[0]] = 0.0
        elif len(present) == 2:
            # Binary logistic regression is a softmax with the first class's logit at zero.
            clf = _logistic(self.C).fit(x[has], cat[has])
            bias[present[0]] = 0.0
            coef[:, present[1]], bias[present[1]] = clf.coef_[0], clf.intercept_[0]
        elif len(present) == 3:
            clf = _logistic(self.C).fit(x[has], cat[has])
            coef[:, clf.classes_], bias[clf.classes_] = clf.coef_.T, clf.intercept_
        self.category_coef, self.category_bias = coef, bias
        return self

    def scores(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(level probabilities (n, 3), category probabilities (n, 3)) in one pass."""
        if self.features is None or self.level_coef is None or self.category_coef is None:
            raise ArtifactError("The model is not fitted.")
        if self._weights is None:
            self._weights = np.hstack([self.level_coef, self.category_coef])
        z = self.features.dot([prepare(t) for t in texts], self._weights)
        levels = 1.0 / (1.0 + np.exp(-(z[:, :3] + self.level_bias)))
        logits = z[:, 3:] + self.category_bias
        logits -= logits.max(axis=1, keepdims=True)
        cats = np.exp(logits)
        cats /= cats.sum(axis=1, keepdims=True)
        return levels, cats

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.scores(texts)[0]

    def category_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.scores(texts)[1]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The model's reading of one message, with the probabilities behind it."""

    level: str
    category: str
    p_watch: float
    p_urgent: float
    p_emergency: float
    p_category: float
    # How many of the member's messages just before this one were read with it (0: alone).
    earlier: int = 0

    @property
    def confidence(self) -> float:
        """How sure the model is of the level it chose."""
        return {"none": 1.0 - self.p_watch, "watch": self.p_watch, "urgent": self.p_urgent}.get(
            self.level, self.p_emergency
        )

    @property
    def explanation(self) -> str:
        read = "model"
        if self.earlier:
            before = "message" if self.earlier == 1 else f"{self.earlier} messages"
            read = f"model, with the member's {before} before it"
        if self.level == "none":
            return f"{read}: {1.0 - self.p_watch:.2f} none"
        return f"{read}: {self.confidence:.2f} {self.level}, {self.category}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "category": self.category,
            "p_watch": round(self.p_watch, 4),
            "p_urgent": round(self.p_urgent, 4),
            "p_emergency": round(self.p_emergency, 4),
            "p_category": round(self.p_category, 4),
        } | ({"earlier": self.earlier} if self.earlier else {})


@dataclass
class Detector:
    """A fitted model with its decision thresholds and the record of how it was made.

    With a transformer reader (``encoder``), a message the n-grams find at all worrying (its
    watch score at or above ``gate``) is read by both, and their probabilities are averaged;
    any other message is scored as if the reader had said no, which keeps the thresholds
    (chosen on the same averaged scores) honest. Without the reader (not installed, or switched
    off) the n-grams decide alone, with the thresholds chosen for them alone."""

    model: CrisisModel
    thresholds: dict[str, float]
    meta: dict[str, Any] = field(default_factory=dict)
    encoder: Encoder | None = None
    gate: float = 0.0
    ngram_thresholds: dict[str, float] | None = None

    def probabilities(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        levels, cats = self.model.scores(texts)
        if self.encoder is None:
            return levels, cats
        gated = np.flatnonzero(levels[:, 0] >= self.gate)
        both_levels, both_cats = levels / 2.0, cats.copy()
        if len(gated):
            e_levels, e_cats = self.encoder.scores([texts[int(i)] for i in gated])
            both_levels[gated] = (levels[gated] + e_levels) / 2.0
            both_cats[gated] = (cats[gated] + e_cats) / 2.0
        return both_levels, both_cats

    @property
    def active_thresholds(self) -> dict[str, float]:
        if self.encoder is None and self.ngram_thresholds is not None:
            return self.ngram_thresholds
        return self.thresholds

    def predict(self, texts: Sequence[str]) -> list[Verdict]:
        if not texts:
            return []
        levels, cats = self.probabilities(texts)
        t = self.active_thresholds
        review = t.get("review", t["urgent"])
        out = []
        for (pw, pu, pe), cat in zip(levels.tolist(), cats.tolist(), strict=True):
            level = "none"
            # Likely enough to need a look (the recall threshold), not sure enough to page
            # anyone (the alert budget): a watch entry, no deadline, no card.
            if pw >= t["watch"] or pu >= review:
                level = "watch"
            if pu >= t["urgent"]:
                level = "urgent"
            if pe >= t["emergency"]:
                level = "emergency"
            best = int(np.argmax(cat))
            out.append(
                Verdict(
                    level=level,
                    category=CATEGORIES[best] if level != "none" else "none",
                    p_watch=pw,
                    p_urgent=pu,
                    p_emergency=pe,
                    p_category=cat[best],
                )
            )
        return out

    # ------------------------------------------------------------ the artifact

    def save(self, path: Path = ARTIFACT, encoder_path: Path | None = None) -> None:
        m = self.model
        assert m.features is not None and m.level_coef is not None
        assert m.level_bias is not None and m.category_coef is not None
        assert m.category_bias is not None
        meta = {
            **self.meta,
            "features_version": FEATURES_VERSION,
            "C": m.C,
            "thresholds": self.thresholds,
            "ngram_thresholds": self.ngram_thresholds or self.thresholds,
            "gate": self.gate,
            "analyzers": {
                k: {**v, "ngram_range": list(v["ngram_range"])} for k, v in ANALYZERS.items()
            },
        }
        if encoder_path is not None:
            meta["encoder_sha256"] = hashlib.sha256(encoder_path.read_bytes()).hexdigest()
        meta["probes"] = self.probabilities(list(PROBES))[0].round(6).tolist()
        arrays: dict[str, np.ndarray] = {
            "meta": np.array(json.dumps(meta, sort_keys=True)),
            "level_coef": m.level_coef.astype(np.float32),
            "level_bias": m.level_bias.astype(np.float64),
            "category_coef": m.category_coef.astype(np.float32),
            "category_bias": m.category_bias.astype(np.float64),
        }
        for name, vocab in m.features.vocabularies.items():
            arrays[f"vocab_{name}"] = np.array(vocab)
            arrays[f"idf_{name}"] = m.features.idf[name].astype(np.float32)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        path.write_bytes(buf.getvalue())


def load(
    path: Path = ARTIFACT, encoder_path: Path | None = ENCODER_ARTIFACT, reader: bool = True
) -> Detector:
    """Reads an artifact, refusing one written for other features (``ArtifactError``).

    The transformer reader is loaded too when the artifact was trained with it and ``reader``
    is true; if it cannot be (the base package is missing, or its file does not match), the
    detector falls back to the n-grams alone and says why in ``meta["reader"]``."""
    if not path.exists():
        raise ArtifactError(f"No crisis model at {path.name}: run `make train-detector`.")
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta.get("features_version") != FEATURES_VERSION:
            raise ArtifactError(
                f"The crisis model was written for features version {meta.get('features_version')}"
                f" but this code reads version {FEATURES_VERSION}: run `make train-detector`."
            )
        saved = {
            k: {**v, "ngram_range": tuple(v["ngram_range"])} for k, v in meta["analyzers"].items()
        }
        if saved != ANALYZERS:
            raise ArtifactError(
                "The crisis model was trained with other n-gram settings than this code uses: "
                "run `make train-detector`."
            )
        features = _Features(
            {name: data[f"vocab_{name}"].tolist() for name in ANALYZERS},
            {name: data[f"idf_{name}"].astype(np.float64) for name in ANALYZERS},
        )
        model = CrisisModel(
            C=meta["C"],
            features=features,
            level_coef=data["level_coef"].astype(np.float64),
            level_bias=data["level_bias"],
            category_coef=data["category_coef"].astype(np.float64),
            category_bias=data["category_bias"],
        )
    detector = Detector(
        model=model,
        thresholds=meta["thresholds"],
        meta=meta,
        gate=meta.get("gate", 0.0),
        ngram_thresholds=meta.get("ngram_thresholds"),
    )
    wanted = meta.get("encoder_sha256")
    if not wanted or not reader:
        meta["reader"] = "not used"
        return detector
    try:
        if encoder_path is None or not encoder_path.exists():
            raise EncoderError(f"No fine-tuned encoder at {encoder_path}.")
        if hashlib.sha256(encoder_path.read_bytes()).hexdigest() != wanted:
            raise EncoderError("The encoder file is not the one this model was trained with.")
        detector.encoder = load_encoder(encoder_path)
        meta["reader"] = "loaded"
    except EncoderError as exc:
        meta["reader"] = f"unavailable, n-grams alone: {exc}"
    return detector


def data_hash(lines: Sequence[dict[str, Any]]) -> str:
    """A fingerprint of the labelled lines a model was trained on (text and labels only)."""
    h = hashlib.sha256()
    for item in lines:
        h.update(json.dumps([item["text"], item["level"], item["category"]]).encode())
    return h.hexdigest()[:16]


_LOADED: dict[str, Detector | None] = {}


def enabled() -> bool:
    """The model runs unless ``CRISIS_MODEL`` says off (rules alone then decide)."""
    return os.environ.get("CRISIS_MODEL", "on").strip().lower() not in ("0", "off", "false", "no")


def reader_enabled() -> bool:
    """The transformer reader runs unless ``CRISIS_READER`` says off (n-grams alone then)."""
    return os.environ.get("CRISIS_READER", "on").strip().lower() not in ("0", "off", "false", "no")


def default() -> Detector | None:
    """The shipped model, loaded once per process; None when switched off."""
    if not enabled():
        return None
    if "default" not in _LOADED:
        _LOADED["default"] = load(reader=reader_enabled())
    return _LOADED["default"]
