"""The transformer reader: its base model's provenance, its artifact, long messages, fallback.

The shipped detector is trained with the reader (``data/encoder.npz``); besides checking that
one, these tests build a reader file the way training does, from the base model's own first
three layers and a fixed head, and check everything the product does with one."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from moderation.crisis import encoder
from moderation.crisis.encoder import BASE_SHA256, EncoderError, layer_names, load_base
from moderation.crisis.model import PROBES, Detector, load

CRISIS = "the pills are counted out and tonight is the night"


@pytest.fixture(scope="module")
def reader_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reader file as training writes one: three layers (here the base's own) and a head."""
    from safetensors.numpy import load_file

    base = load_file(str(encoder.base_dir() / "model.safetensors"))
    layers = {name: base[name] for i in range(3) for name in layer_names(i)}
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("reader") / "encoder.npz"
    encoder.save(
        path,
        layers=layers,
        count=3,
        head=rng.normal(scale=0.5, size=(384, 6)),
        head_b=np.zeros(6),
        meta={},
    )
    return path


@pytest.fixture(scope="module")
def reader(reader_file: Path) -> encoder.Encoder:
    return encoder.load(reader_file)


def test_the_base_model_is_the_published_all_minilm_l6_v2() -> None:
    weights = encoder.base_dir() / "model.safetensors"
    assert encoder._sha256(weights) == BASE_SHA256


def test_a_base_model_with_other_weights_is_refused(tmp_path: Path) -> None:
    shutil.copy(encoder.base_dir() / "tokenizer.json", tmp_path / "tokenizer.json")
    (tmp_path / "model.safetensors").write_bytes(b"not the published weights")
    with pytest.raises(EncoderError, match="SHA-256"):
        load_base(tmp_path)


def test_an_encoder_file_for_another_version_is_refused(reader_file: Path, tmp_path: Path) -> None:
    with np.load(reader_file) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    meta["encoder_version"] = 999
    arrays["meta"] = np.array(json.dumps(meta))
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    path = tmp_path / "encoder.npz"
    path.write_bytes(buf.getvalue())
    with pytest.raises(EncoderError, match="make train-detector"):
        encoder.load(path)


def test_an_encoder_file_of_version_1_is_still_read_and_new_files_are_version_2(
    reader_file: Path, tmp_path: Path
) -> None:
    """Version 2 files may carry moved word embeddings, which code that reads only version 1
    would ignore; a version 1 file carries none, so it reads the same."""
    with np.load(reader_file) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    assert meta["encoder_version"] == 2
    meta["encoder_version"] = 1
    arrays["meta"] = np.array(json.dumps(meta))
    path = tmp_path / "encoder.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    texts = ["see you thursday", CRISIS]
    assert np.allclose(
        encoder.load(path).scores(texts)[0], encoder.load(reader_file).scores(texts)[0]
    )


def test_the_reader_file_is_small(reader_file: Path) -> None:
    assert reader_file.stat().st_size < 8_000_000  # three layers in 8 bits and a head


def test_the_shipped_detector_reads_with_its_reader() -> None:
    detector = load()
    assert detector.meta["reader"] == "loaded" and detector.encoder is not None
    assert 0 < detector.gate < detector.thresholds["watch"]
    # The recorded out-of-source figures are the reader's: the model row differs from the
    # n-grams alone.
    figures = detector.meta["figures"]
    assert figures["mean_model"] != figures["mean_ngrams"]
    # It reads in 8 bits: the file records the ranges that needs.
    assert detector.encoder.ranges is not None
    assert set(detector.encoder.ranges) == {
        f"layer{i}.{name}" for i in range(6) for name in encoder.LINEARS
    }
    # Six layers in 8 bits, the word embeddings training moved and a head (12.1 MB): it is
    # committed, so it must stay small.
    assert encoder.ARTIFACT.stat().st_size < 13_000_000


def test_the_shipped_detector_reproduces_its_recorded_scores() -> None:
    detector = load()
    levels, _ = detector.probabilities(list(PROBES))
    assert np.allclose(levels, np.array(detector.meta["probes"]), atol=1e-4)


def test_with_a_reader_only_worrying_messages_are_read_and_scores_are_averaged(
    reader: encoder.Encoder,
) -> None:
    shipped = load()
    detector = Detector(
        model=shipped.model,
        thresholds=shipped.thresholds,
        ngram_thresholds=shipped.thresholds,
        encoder=reader,
        gate=0.3,
    )
    texts = ["see you all thursday", CRISIS]
    ngram, _ = shipped.model.scores(texts)
    assert ngram[0, 0] < 0.3 <= ngram[1, 0]  # one below the gate, one above
    read, _ = reader.scores(texts[1:])
    both, cats = detector.probabilities(texts)
    assert np.allclose(both[0], ngram[0] / 2)  # never read: as if the reader said no
    assert np.allclose(both[1], (ngram[1] + read[0]) / 2)
    assert np.allclose(cats.sum(1), 1.0)


def test_a_detector_saved_with_its_reader_loads_it_and_falls_back_without_it(
    reader_file: Path, tmp_path: Path
) -> None:
    shipped = load()
    with_reader = {"watch": 0.4, "urgent": 0.2, "emergency": 0.25}
    trained = Detector(
        model=shipped.model,
        thresholds=with_reader,
        ngram_thresholds=shipped.thresholds,
        encoder=encoder.load(reader_file),
        gate=0.3,
        meta=dict(shipped.meta),
    )
    path = tmp_path / "model.npz"
    trained.save(path, encoder_path=reader_file)

    again = load(path, encoder_path=reader_file)
    assert again.meta["reader"] == "loaded" and again.encoder is not None
    assert again.active_thresholds == with_reader
    levels, _ = again.probabilities(list(PROBES))
    assert np.allclose(levels, np.array(again.meta["probes"]), atol=1e-4)

    alone = load(path, encoder_path=tmp_path / "missing.npz")
    assert alone.encoder is None and alone.meta["reader"].startswith("unavailable")
    assert alone.active_thresholds == shipped.thresholds
    (verdict,) = alone.predict([CRISIS])
    assert verdict.level in ("urgent", "emergency")

    with np.load(reader_file) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["head_b"] = arrays["head_b"] + 1.0
    other = tmp_path / "other.npz"
    np.savez(other, **arrays)  # type: ignore[arg-type]
    mismatched = load(path, encoder_path=other)
    assert mismatched.encoder is None and "not the one" in mismatched.meta["reader"]

    off = load(path, encoder_path=reader_file, reader=False)
    assert off.encoder is None and off.active_thresholds == shipped.thresholds


def test_a_long_message_is_read_in_windows_and_the_worst_one_counts(
    reader: encoder.Encoder,
) -> None:
    calm = "we talked about boundaries and the kids' schedule and my new job. " * 40
    windows, owner = reader.windows([calm + CRISIS])
    assert len(windows) > 2 and set(owner) == {0}
    assert all(len(w) <= encoder.MAX_TOKENS for w in windows)
    levels, _ = reader.scores([calm + CRISIS])
    parts, _ = reader.scores([reader.tokenizer.decode(w[1:-1]) for w in windows])
    assert np.allclose(levels[0], parts.max(axis=0), atol=1e-3)


def test_empty_and_odd_text_is_read(reader: encoder.Encoder) -> None:
    levels, cats = reader.scores(["", "\U0001f48a\U0001f48a\U0001f52b", "a" * 4000, "\x00"])
    assert levels.shape == (4, 3) and cats.shape == (4, 3)
    assert np.isfinite(levels).all() and np.allclose(cats.sum(1), 1.0)


@given(st.lists(st.integers(min_value=2, max_value=128), max_size=80), st.integers(1, 1024))
def test_windows_are_read_in_runs_of_similar_length_within_the_token_budget(
    lengths: list[int], tokens: int
) -> None:
    found = encoder.runs(lengths, tokens)
    assert sorted(i for run in found for i in run) == list(range(len(lengths)))
    for run in found:
        longest = max(lengths[i] for i in run)
        assert len(run) == 1 or len(run) * longest <= tokens
    # Shortest first: no run holds a window shorter than one of the run before it.
    for before, after in zip(found, found[1:], strict=False):
        assert max(lengths[i] for i in before) <= min(lengths[i] for i in after)


def test_how_windows_are_grouped_into_runs_does_not_change_what_is_read(
    reader: encoder.Encoder,
) -> None:
    from django.conf import settings

    # The largest message a member may send is many windows, read in several runs.
    largest = ("I keep going over what he said to me tonight. " * 100)[: settings.MESSAGE_MAX_CHARS]
    assert len(reader.windows([largest])[0]) > 4
    texts = ["ok", "see you thursday", CRISIS, "a much longer message " * 12, "x" * 600, largest]
    alone = reader.scores(texts, tokens=1)
    together = reader.scores(texts, tokens=100_000)
    assert np.allclose(alone[0], together[0], atol=1e-5)
    assert np.allclose(alone[1], together[1], atol=1e-5)


def test_quantizing_keeps_each_weight_within_half_a_step() -> None:
    rng = np.random.default_rng(1)
    w = rng.normal(size=(8, 32)).astype(np.float32)
    q, scale = encoder.quantize(w)
    assert q.dtype == np.int8
    assert np.abs(q * scale[:, None] - w).max() <= scale.max() / 2 + 1e-6


def test_the_word_embeddings_training_moved_are_read_from_the_file_and_no_others(
    tmp_path: Path,
) -> None:
    """Fine-tuning moves the embeddings of the tokens its lines use; the file keeps those rows
    only, and every other row is the base model's, exactly."""
    from safetensors.numpy import load_file

    base = load_file(str(encoder.base_dir() / "model.safetensors"))
    table = base["embeddings.word_embeddings.weight"]
    tokenizer, _ = load_base()
    moved = np.array(sorted(set(tokenizer.encode("pills tonight", add_special_tokens=False).ids)))
    delta = np.random.default_rng(3).normal(scale=0.05, size=(len(moved), 384))
    rng = np.random.default_rng(7)
    common = {
        "layers": {name: base[name] for i in range(2) for name in layer_names(i)},
        "count": 2,
        "head": rng.normal(scale=0.5, size=(384, 6)),
        "head_b": np.zeros(6),
        "meta": {},
    }
    encoder.save(tmp_path / "moved.npz", word_ids=moved, word_delta=delta, **common)
    encoder.save(tmp_path / "frozen.npz", **common)
    with_moved, frozen = encoder.load(tmp_path / "moved.npz"), encoder.load(tmp_path / "frozen.npz")

    assert np.array_equal(frozen.words, table)
    step = np.abs(delta).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(with_moved.words[moved] - (table[moved] + delta)) <= step / 2 + 1e-6)
    others = np.setdiff1d(np.arange(len(table)), moved)
    assert np.array_equal(with_moved.words[others], table[others])
    # What the moved rows change is read: a text with those tokens scores otherwise.
    assert not np.allclose(with_moved.scores([CRISIS])[0], frozen.scores([CRISIS])[0])
    plain = ["see you at the meeting"]
    assert np.allclose(with_moved.scores(plain)[0], frozen.scores(plain)[0], atol=1e-6)


def test_a_kept_fine_tuning_is_reused_for_the_same_lines_only(
    reader_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training is deterministic, so ``make train-detector`` may keep each fine-tuning
    (``$CRISIS_READER_CACHE``) and reuse it when the same lines are trained on again."""
    from moderation.crisis.train import fit_reader, reader_cache, reader_of

    lines = [{"text": "see you thursday", "level": "none", "category": "none"}]
    assert reader_cache(lines) is None  # off unless asked for
    monkeypatch.setenv("CRISIS_READER_CACHE", str(tmp_path))
    path = reader_cache(lines)
    assert path is not None and path.parent == tmp_path
    other = [{**lines[0], "level": "watch", "category": "self_harm"}]
    assert reader_cache(other) != path  # another label is another training

    with np.load(reader_file) as data:  # a kept result, as fit_reader writes one
        layers = {
            name: data[name + ".q"].astype(np.float32) * data[name + ".s"][:, None]
            if name + ".q" in data.files
            else data[name]
            for i in range(3)
            for name in layer_names(i)
        }
        np.savez(
            path,
            count=3,
            head=data["head"],
            head_b=data["head_b"],
            **{f"l:{k}": v for k, v in layers.items()},
        )
    texts = ["see you thursday", CRISIS]
    kept = reader_of(fit_reader(lines), texts)  # no torch needed: nothing is trained
    # As the product reads: in 8 bits, with ranges measured on the lines given.
    assert kept.ranges is not None
    exact = kept.exact()
    assert np.allclose(
        exact.scores(texts)[0], encoder.load(reader_file).scores(texts)[0], atol=1e-5
    )

    # The word embeddings training moved are kept with it, and read back.
    tokenizer, _ = load_base()
    moved = np.array(sorted(set(tokenizer.encode(CRISIS, add_special_tokens=False).ids)))
    delta = np.random.default_rng(5).normal(scale=0.05, size=(len(moved), 384))
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez(path, **arrays, **{"w:ids": moved, "w:delta": delta})  # type: ignore[arg-type]
    with_words = reader_of(fit_reader(lines), texts)
    assert not np.allclose(with_words.words[moved], kept.words[moved])
    assert not np.allclose(with_words.scores([CRISIS])[0], kept.scores([CRISIS])[0])
    # Frozen embeddings are another training setting, so another key.
    from moderation.crisis import finetune

    monkeypatch.setattr(finetune, "WORDS", not finetune.WORDS)
    assert reader_cache(lines) != path


def _unseen_chat() -> list[str]:
    path = Path(__file__).resolve().parents[2] / "bench" / "data" / "ordinary_chat_unseen.jsonl"
    return [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]


def test_the_shipped_reader_in_8_bits_reads_close_to_the_exact_graph() -> None:
    """The product multiplies in 8 bits; training computed in float32. On text neither was
    tuned on (the unseen ordinary chat, and the probes), they must agree closely."""
    eight, exact = encoder.load(), encoder.load(exact=True)
    assert eight.ranges is not None and exact.ranges is None
    texts = [*PROBES, *_unseen_chat()]
    a, b = eight.scores(texts), exact.scores(texts)
    gap = np.abs(a[0] - b[0])
    assert gap.mean() < 0.01 and gap.max() < 0.25
    assert np.abs(a[1] - b[1]).mean() < 0.01
    assert not np.allclose(a[0], b[0], atol=1e-6)  # really another arithmetic


def test_ranges_are_measured_on_the_tokens_not_the_padding(reader: encoder.Encoder) -> None:
    """Read together, the shorter window is padded: what padding computes is not an input's."""
    short, long = "see you thursday", " ".join([CRISIS] * 4)
    together = reader.ranges_of([short, long])
    alone = reader.ranges_of([short]), reader.ranges_of([long])
    assert set(together) == {f"layer{i}.{name}" for i in range(3) for name in encoder.LINEARS}
    for key, value in together.items():
        assert value.shape == ((1536,) if key.endswith(".down") else (384,))
        assert np.allclose(value, np.maximum(alone[0][key], alone[1][key]), rtol=1e-5)


def test_a_reader_file_with_ranges_reads_in_8_bits_unless_asked_for_exact(
    reader_file: Path, tmp_path: Path
) -> None:
    exact = encoder.load(reader_file)
    assert exact.ranges is None  # a file without ranges reads exactly
    texts = _unseen_chat()[:120] + [CRISIS, "", "x" * 4000]
    with np.load(reader_file) as data:
        arrays = {k: data[k] for k in data.files}
    ranges = exact.ranges_of(texts)
    path = tmp_path / "encoder.npz"
    np.savez(path, **arrays, **{f"range.{k}": v for k, v in ranges.items()})  # type: ignore[arg-type]
    eight = encoder.load(path)
    assert eight.ranges is not None and set(eight.ranges) == set(ranges)
    a, b = eight.scores(texts)[0], exact.scores(texts)[0]
    assert not np.allclose(a, b, atol=1e-6) and np.abs(a - b).max() < 0.1
    assert np.allclose(encoder.load(path, exact=True).scores(texts)[0], b, atol=1e-6)
    assert np.allclose(eight.exact().scores(texts)[0], b, atol=1e-6)


def test_smoothing_and_outliers_keep_the_products_the_same_in_exact_arithmetic() -> None:
    """Dividing an input per channel and multiplying the weights' rows back changes nothing
    before rounding; the down projection's kept channels are its largest inputs."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 384)) * np.where(rng.random(384) < 0.02, 40.0, 1.0)
    w = rng.normal(scale=0.05, size=(384, 1536))
    factor = encoder.smoothing(np.abs(x).max(0), w)
    assert np.allclose((x / factor) @ (w * factor[:, None]), x @ w)
    largest = np.abs(rng.normal(size=1536))
    kept = encoder.outliers(largest)
    assert len(kept) == encoder.OUTLIERS
    assert largest[kept].min() >= np.delete(largest, kept).max()
