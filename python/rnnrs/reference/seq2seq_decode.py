"""Decoding the encoder-decoder (seq2seq.py): greedy and batched beam search.

Both start every row from ``bos`` and the encoder's state, and stop a row at ``eos`` (not
part of the output) or after ``max_lengths[b]`` tokens (the caller derives it from the
source length); ``bos`` is never produced. The whole batch steps together; a finished row
keeps being computed (its output is no longer read), so a row decodes the same alone or in
any batch.

Beam search keeps ``width`` hypotheses per row in B*width decoder rows. At each step every
live hypothesis extends by every token (score = sum of log-probabilities, in float64); the
2*width best candidates of the row, by decreasing score then increasing (beam, token) index,
are walked in order: a candidate ending in ``eos`` is finished with rank score / len ** alpha
(len counting the eos, alpha = ``length_penalty``), any other joins the next beam until it
holds ``width``. A row stops when it has ``width`` finished hypotheses and the worst of the
best ``width`` ranks at least as high as its best live one, or at its maximum length (its
live hypotheses are then finished, len without eos). The answer is the finished hypothesis
of highest rank (the first found on ties). The rule is rnnrs.generation.beam_search's, batched.

Rust: src/seq2seq/decode.rs.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .attention import attention_keys
from .loss import log_softmax
from .seq2seq import decoder_step, encode


def _start(
    params: dict[str, np.ndarray], config: dict[str, Any], src: np.ndarray, src_len: np.ndarray
) -> tuple[np.ndarray, list[tuple[np.ndarray, ...]], Optional[np.ndarray]]:
    mem, state, _ = encode(params, config, src, src_len)
    kind = config["attention"]
    att = {k[10:]: v for k, v in params.items() if k.startswith("attention.")}
    keys = attention_keys(kind, mem, att) if kind is not None else None
    return mem, state, keys


def greedy_decode(
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    src: np.ndarray,
    src_len: np.ndarray,
    max_lengths: np.ndarray,
) -> tuple[list[list[int]], list[np.ndarray]]:
    """The likeliest token at each step (the first on ties). Returns the token lists and,
    per row, its attention weights (steps, S) (rows 0 wide without attention), one row per
    output token and one for the step that chose eos.

    Rust: src/seq2seq/decode.rs (greedy).
    """
    batch = src.shape[0]
    mem, state, keys = _start(params, config, src, src_len)
    prev = np.full(batch, config["bos_id"], dtype=np.int64)
    feed = np.zeros((batch, config["hidden_size"]), dtype=mem.dtype)
    out: list[list[int]] = [[] for _ in range(batch)]
    weights: list[list[np.ndarray]] = [[] for _ in range(batch)]
    done = np.zeros(batch, dtype=bool)
    limit = np.asarray(max_lengths)
    for _ in range(int(limit.max(initial=0))):
        logits, feed, state, a, _ = decoder_step(
            params, config, prev, feed, state, mem, keys, src_len
        )
        logits[:, config["bos_id"]] = -np.inf  # bos only starts a sequence
        prev = logits.argmax(axis=-1)
        for b in np.nonzero(~done)[0]:
            weights[b].append(a[: src_len[b], b] if a is not None else np.zeros(0, mem.dtype))
            if prev[b] == config["eos_id"]:
                done[b] = True
            else:
                out[b].append(int(prev[b]))
                done[b] = len(out[b]) >= limit[b]
        if done.all():
            break
    return out, [np.array(w).reshape(len(w), -1) for w in weights]


def beam_search(
    params: dict[str, np.ndarray],
    config: dict[str, Any],
    src: np.ndarray,
    src_len: np.ndarray,
    max_lengths: np.ndarray,
    width: int,
    length_penalty: float = 1.0,
) -> list[list[int]]:
    """The best hypothesis of each row found by batched beam search (module docstring).

    Rust: src/seq2seq/decode.rs (beam_search).
    """
    batch, k = src.shape[0], width
    eos = config["eos_id"]
    mem, state, keys = _start(params, config, src, src_len)
    rows = np.repeat(np.arange(batch), k)  # decoder row b*k + j reads source row b
    mem, keys = mem[:, rows], None if keys is None else keys[:, rows]
    state = [tuple(s[rows] for s in st) for st in state]
    lens = np.asarray(src_len)[rows]
    prev = np.full(batch * k, config["bos_id"], dtype=np.int64)
    feed = np.zeros((batch * k, config["hidden_size"]), dtype=mem.dtype)
    scores = np.full((batch, k), -np.inf)
    scores[:, 0] = 0.0
    hyps: list[list[list[int]]] = [[[] for _ in range(k)] for _ in range(batch)]
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    done = np.zeros(batch, dtype=bool)
    limit = np.asarray(max_lengths)

    def rank(total: float, length: int) -> float:
        return total / (max(length, 1) ** length_penalty)

    for step in range(int(limit.max(initial=0))):
        logits, feed, state, _, _ = decoder_step(params, config, prev, feed, state, mem, keys, lens)
        vocab = logits.shape[-1]
        logits[:, config["bos_id"]] = -np.inf
        logp = log_softmax(logits).astype(np.float64).reshape(batch, k * vocab)
        parent = np.arange(batch * k)
        for b in np.nonzero(~done)[0]:
            cand = (scores[b][:, None] + logp[b].reshape(k, vocab)).reshape(-1)
            order = np.argsort(-cand, kind="stable")[: 2 * k]
            new_scores: list[float] = []
            new_hyps: list[list[int]] = []
            for flat in order:
                total = float(cand[flat])
                if total == -np.inf:
                    break
                j, token = divmod(int(flat), vocab)
                if token == eos:
                    finished[b].append((rank(total, len(hyps[b][j]) + 1), hyps[b][j]))
                else:
                    parent[b * k + len(new_hyps)] = b * k + j
                    new_scores.append(total)
                    new_hyps.append([*hyps[b][j], token])
                if len(new_hyps) == k:
                    break
            best_live = rank(new_scores[0], len(new_hyps[0])) if new_hyps else -np.inf
            ranks = sorted((f[0] for f in finished[b]), reverse=True)
            if not new_hyps or (len(ranks) >= k and ranks[k - 1] >= best_live):
                done[b] = True
            elif step + 1 >= limit[b]:
                finished[b].extend((rank(s, len(h)), h) for s, h in zip(new_scores, new_hyps))
                done[b] = True
            scores[b] = -np.inf
            scores[b, : len(new_scores)] = new_scores
            hyps[b] = new_hyps + [[] for _ in range(k - len(new_hyps))]
            for j, h in enumerate(new_hyps):
                prev[b * k + j] = h[-1]
        if done.all():
            break
        state = [tuple(s[parent] for s in st) for st in state]
        feed = feed[parent]
    return [max(f, key=lambda x: x[0])[1] if f else [] for f in finished]
