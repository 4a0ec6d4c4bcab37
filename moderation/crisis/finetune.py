"""Fine-tune the transformer reader (``encoder``) with torch: training only, never at run time.

torch is an optional dependency (``pip install -e '.[train]'``, which ``make train-detector``
does). The model is the base all-MiniLM-L6-v2 with its first ``LAYERS`` transformer layers
trained (and, with ``WORDS``, the word embeddings of the tokens the training lines use),
mean-pooled, then one linear head: three yes/no level questions (watch or above, urgent or
above, emergency) and the category. The forward pass is
written out to match ``encoder`` exactly, so the numpy reader scores what torch trained.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .encoder import HEADS, MAX_TOKENS, base_dir, layer_names
from .lexicon import RANK

LAYERS = 6
# Also train the word embeddings of the tokens the training lines use (the others cannot move:
# no gradient reaches them and they take no weight decay); only the rows that moved ship.
WORDS = True
EPOCHS = 4
BATCH = 16
LEARNING_RATE = 8e-5
SEED = 13
_CATEGORY = {"self_harm": 0, "harm_others": 1, "abuse_danger": 2}


@dataclass
class Trained:
    layers: dict[str, np.ndarray]
    count: int
    head: np.ndarray  # (384, 6)
    head_b: np.ndarray
    # The word embeddings that training moved: their token ids, and new minus base (n, 384).
    word_ids: np.ndarray | None = None
    word_delta: np.ndarray | None = None


def _modules(weights: dict[str, Any], count: int, words: bool = False) -> Any:
    import torch
    from torch import nn

    class Layer(nn.Module):
        def __init__(self, i: int) -> None:
            super().__init__()
            n = layer_names(i)
            self.qkv = nn.Linear(384, 1152)
            self.out = nn.Linear(384, 384)
            self.ln1 = nn.LayerNorm(384, eps=1e-12)
            self.up = nn.Linear(384, 1536)
            self.down = nn.Linear(1536, 384)
            self.ln2 = nn.LayerNorm(384, eps=1e-12)
            with torch.no_grad():
                self.qkv.weight.copy_(torch.cat([weights[n[0]], weights[n[2]], weights[n[4]]]))
                self.qkv.bias.copy_(torch.cat([weights[n[1]], weights[n[3]], weights[n[5]]]))
                for mod, w, b in (
                    (self.out, 6, 7),
                    (self.ln1, 8, 9),
                    (self.up, 10, 11),
                    (self.down, 12, 13),
                    (self.ln2, 14, 15),
                ):
                    mod.weight.copy_(weights[n[w]])
                    mod.bias.copy_(weights[n[b]])
            self.gelu = nn.GELU(approximate="tanh")

        def forward(self, x: Any, bias: Any) -> Any:
            b, t, h = x.shape
            d = h // HEADS
            q, k, v = self.qkv(x).split(h, dim=-1)
            q = q.view(b, t, HEADS, d).transpose(1, 2)
            k = k.view(b, t, HEADS, d).transpose(1, 2)
            v = v.view(b, t, HEADS, d).transpose(1, 2)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(d) + bias
            a = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, h)
            x = self.ln1(self.out(a) + x)
            return self.ln2(self.down(self.gelu(self.up(x))) + x)

    class Reader(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.words = nn.Embedding.from_pretrained(
                weights["embeddings.word_embeddings.weight"].clone(), freeze=not words
            )
            self.register_buffer("positions", weights["embeddings.position_embeddings.weight"])
            self.register_buffer(
                "token_type", weights["embeddings.token_type_embeddings.weight"][0]
            )
            self.ln = nn.LayerNorm(384, eps=1e-12)
            with torch.no_grad():
                self.ln.weight.copy_(weights["embeddings.LayerNorm.weight"])
                self.ln.bias.copy_(weights["embeddings.LayerNorm.bias"])
            self.ln.requires_grad_(False)
            self.layers = nn.ModuleList(Layer(i) for i in range(count))
            self.head = nn.Linear(384, 6)

        def forward(self, ids: Any, mask: Any) -> Any:
            t = ids.shape[1]
            positions: Any = self.positions
            x = self.ln(self.words(ids) + positions[:t][None] + self.token_type)
            bias = ((1.0 - mask) * -1e9)[:, None, None, :]
            for layer in self.layers:
                x = layer(x, bias)
            pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            return self.head(pooled)

    return Reader()


def fit(
    texts: Sequence[str],
    levels: Sequence[str],
    categories: Sequence[str],
    *,
    count: int = LAYERS,
    epochs: int = EPOCHS,
    seed: int = SEED,
    words: bool = WORDS,
) -> Trained:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            "Training the transformer reader needs torch: pip install -e '.[train]'"
        ) from exc
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    directory = base_dir()
    weights = load_file(str(directory / "model.safetensors"))
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    ids = [e.ids for e in tokenizer.encode_batch(list(texts))]
    rank = np.array([RANK[lv] for lv in levels])
    y_level = torch.tensor(np.stack([rank >= 1, rank >= 2, rank == 3], 1).astype(np.float32))
    cat = np.array(
        [_CATEGORY.get(c, -100) if r >= 1 else -100 for c, r in zip(categories, rank, strict=True)]
    )
    y_cat = torch.tensor(cat)
    share = y_level.mean(0).clamp(1e-3, 1 - 1e-3)
    level_loss = torch.nn.BCEWithLogitsLoss(pos_weight=(1 - share) / share)
    cat_loss = torch.nn.CrossEntropyLoss(ignore_index=-100)

    model = _modules(weights, count, words)
    table = model.words.weight
    params = [p for p in model.parameters() if p.requires_grad and p is not table]
    groups = [{"params": params, "weight_decay": 0.01}]
    if words:
        # No decay: a row no training line reaches keeps exactly its base value.
        groups.append({"params": [table], "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(groups, lr=LEARNING_RATE)
    steps = epochs * math.ceil(len(ids) / BATCH)
    schedule = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.0, steps)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(ids))
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            t = max(len(ids[i]) for i in chunk)
            batch_ids = torch.zeros((len(chunk), t), dtype=torch.long)
            mask = torch.zeros((len(chunk), t))
            for row, i in enumerate(chunk):
                batch_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1.0
            logits = model(batch_ids, mask)
            loss = level_loss(logits[:, :3], y_level[chunk])
            if (y_cat[chunk] >= 0).any():
                loss = loss + cat_loss(logits[:, 3:], y_cat[chunk])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    out: dict[str, np.ndarray] = {}
    for i, layer in enumerate(model.layers):
        n = layer_names(i)
        qkv_w = layer.qkv.weight.detach().numpy()
        qkv_b = layer.qkv.bias.detach().numpy()
        for j, part in enumerate((0, 2, 4)):
            out[n[part]] = qkv_w[j * 384 : (j + 1) * 384]
            out[n[part + 1]] = qkv_b[j * 384 : (j + 1) * 384]
        for mod, w, b in (
            (layer.out, 6, 7),
            (layer.ln1, 8, 9),
            (layer.up, 10, 11),
            (layer.down, 12, 13),
            (layer.ln2, 14, 15),
        ):
            out[n[w]] = mod.weight.detach().numpy().copy()
            out[n[b]] = mod.bias.detach().numpy().copy()
    word_ids = word_delta = None
    if words:
        delta = table.detach().numpy() - weights["embeddings.word_embeddings.weight"].numpy()
        word_ids = np.flatnonzero(np.abs(delta).max(axis=1) > 0)
        word_delta = delta[word_ids].copy()
    return Trained(
        layers=out,
        count=count,
        head=model.head.weight.detach().numpy().T.copy(),
        head_b=model.head.bias.detach().numpy().copy(),
        word_ids=word_ids,
        word_delta=word_delta,
    )
