"""Character-level word encoders: one vector per word from the characters of the word.

A batch of N words (ragged) is ``chars`` (N, W) character ids, row n's first
``char_lengths[n]`` ids real (1 <= char_lengths[n] <= W), the rest padding (never read).
Two encoders, as the taggers of Lample et al. (2016) and Ma & Hovy (2016):

- ``"lstm"``: the characters' embeddings (Ec) through a one-layer bidirectional LSTM of
  Hc units per direction over each word's own length (stack.py with lengths); the word's
  vector is [final forward state | final reverse state] (N, 2*Hc), i.e. the forward state
  after the last character and the reverse state after the first, torch's
  ``torch.cat([h_n[0], h_n[1]], 1)`` of an ``nn.LSTM`` fed a ``pack_padded_sequence``.
  Parameters (stack names): ``weight_ih_l0`` (4Hc, Ec), ``weight_hh_l0``, ``bias_ih_l0``,
  ``bias_hh_l0`` and the ``_reverse`` twins.
- ``"cnn"``: a convolution of window 3 over the embeddings (F filters, zero padding of one
  position on each side, torch's ``nn.Conv1d(Ec, F, 3, padding=1)``) and the max over the
  word's real positions: y[n, f] = max_{p < len_n} (bias[f] + sum_{c, k} weight[f, c, k]
  x[n, p + k - 1, c]), with x = 0 outside 0 .. len_n - 1. Parameters ``weight`` (F, Ec, 3),
  ``bias`` (F,). Ties in the max go to the first position.

Rust: src/nn/char_encoder.rs (CharEncoder), composed by src/tag/model.rs.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .embedding import embedding_backward, embedding_forward
from .lengths import valid_steps
from .stack import stack_backward, stack_forward, stack_shapes

CHAR_ENCODERS = ("lstm", "cnn")
WINDOW = 3


def char_encoder_shapes(
    kind: str, char_embed_size: int, char_hidden_size: int
) -> dict[str, tuple[int, ...]]:
    """Parameter names (canonical order) and shapes of an encoder, without its embedding.

    Rust: src/nn/char_encoder.rs (CharEncoder::new).

    Example:
        >>> char_encoder_shapes("cnn", 4, 6)
        {'weight': (6, 4, 3), 'bias': (6,)}
    """
    if kind == "lstm":
        return stack_shapes("lstm", char_embed_size, char_hidden_size, 1, True)
    if kind == "cnn":
        return {"weight": (char_hidden_size, char_embed_size, WINDOW), "bias": (char_hidden_size,)}
    raise ValueError(f"char_encoder must be one of {CHAR_ENCODERS}, got {kind!r}")


def char_features(kind: str, char_hidden_size: int) -> int:
    """The width of a word's vector: 2*Hc for ``lstm``, F = Hc for ``cnn``.

    Rust: src/nn/char_encoder.rs (CharEncoder::features).
    """
    return 2 * char_hidden_size if kind == "lstm" else char_hidden_size


def _windows(x: np.ndarray) -> np.ndarray:
    # x (W, N, Ec) time-major -> (W, N, Ec*3): at position p the columns c*3 + k hold
    # x[p + k - 1, :, c] (0 outside the word), so the convolution is one matmul against
    # weight (F, Ec, 3) reshaped to (F, Ec*3).
    w, n, e = x.shape
    padded = np.zeros((w + 2, n, e), dtype=x.dtype)
    padded[1 : w + 1] = x
    win = np.stack([padded[k : k + w] for k in range(WINDOW)], axis=-1)  # (W, N, Ec, 3)
    return win.reshape(w, n, e * WINDOW)


def char_encoder_forward(
    kind: str,
    params: dict[str, np.ndarray],
    table: np.ndarray,
    chars: np.ndarray,
    char_lengths: np.ndarray,
) -> tuple[np.ndarray, dict[str, Any]]:
    """chars (N, W) ids, char_lengths (N,) in 1..W, the character table (Vc, Ec) ->
    word vectors (N, char_features), cache. ``params`` are the encoder's own (short names).

    Rust: src/nn/char_encoder.rs (CharEncoder::forward).
    """
    n, w = chars.shape
    valid = valid_steps(char_lengths, w)  # (W, N)
    x = embedding_forward(table, np.where(valid.T, chars, 0))  # (W, N, Ec)
    x = x * valid[:, :, None]
    cache: dict[str, Any] = {"chars": chars, "valid": valid, "x": x, "vocab": table.shape[0]}
    if kind == "lstm":
        hid = params["weight_hh_l0"].shape[1]
        zeros = np.zeros((2, n, hid), dtype=x.dtype)
        _, (h_n, _), stack_cache = stack_forward(
            "lstm", x, (zeros, zeros), params, 1, True, 0.0, None, char_lengths
        )
        cache["stack"] = stack_cache
        return np.concatenate([h_n[0], h_n[1]], axis=1), cache
    win = _windows(x)
    filters = params["weight"].shape[0]
    conv = win @ params["weight"].reshape(filters, -1).T + params["bias"]  # (W, N, F)
    conv = np.where(valid[:, :, None], conv, -np.inf)
    best = np.argmax(conv, axis=0)  # (N, F), first position on ties
    cache.update(win=win, best=best)
    return np.take_along_axis(conv, best[None], axis=0)[0], cache


def char_encoder_backward(
    kind: str,
    d_words: np.ndarray,
    params: dict[str, np.ndarray],
    cache: dict[str, Any],
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Backward of :func:`char_encoder_forward` from dLoss/d(word vectors) (N, features).

    Returns (grads of the encoder's params by short name, grad of the character table).

    Rust: src/nn/char_encoder.rs (CharEncoder::backward).
    """
    valid, x = cache["valid"], cache["x"]
    w, n, _ = x.shape
    grads: dict[str, np.ndarray]
    if kind == "lstm":
        hid = d_words.shape[1] // 2
        d_h = np.stack([d_words[:, :hid], d_words[:, hid:]])  # (2, N, Hc)
        d_out = np.zeros((w, n, 2 * hid), dtype=d_words.dtype)
        dx, _, grads, _ = stack_backward(d_out, (d_h, np.zeros_like(d_h)), cache["stack"])
    else:
        filters = d_words.shape[1]
        d_conv = np.zeros((w, n, filters), dtype=d_words.dtype)
        np.put_along_axis(d_conv, cache["best"][None], d_words[None], axis=0)
        weight = params["weight"].reshape(filters, -1)
        win = cache["win"]
        flat = d_conv.reshape(w * n, filters)
        grads = {
            "weight": (flat.T @ win.reshape(w * n, -1)).reshape(params["weight"].shape),
            "bias": flat.sum(axis=0),
        }
        d_win = (flat @ weight).reshape(w, n, -1, WINDOW)  # (W, N, Ec, 3)
        d_padded = np.zeros((w + 2, n, d_win.shape[2]), dtype=d_words.dtype)
        for k in range(WINDOW):
            d_padded[k : k + w] += d_win[..., k]
        dx = d_padded[1 : w + 1]
    dx = dx * valid[:, :, None]
    chars = np.where(valid.T, cache["chars"], 0)
    return grads, embedding_backward(dx, chars, cache["vocab"])


def gather_words(
    chars: np.ndarray, char_lengths: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The real words of a padded sentence batch, time-major.

    chars (B, T, W), char_lengths (B, T), sentence lengths (B,) -> (words (N, W),
    their lengths (N,), valid (T, B) bool), words listed in (t, b) order of the valid
    positions, N = sum(lengths). The words' lengths must lie in 1..W.

    Rust: src/tag/model.rs (Tagger::load gathers the words in the same order).
    """
    t_len = chars.shape[1]
    valid = valid_steps(lengths, t_len)
    words = np.transpose(chars, (1, 0, 2))[valid]
    word_lengths = np.transpose(char_lengths)[valid].astype(np.int64)
    w = chars.shape[2]
    if word_lengths.size and (word_lengths.min() < 1 or word_lengths.max() > w):
        raise ValueError(
            f"char_lengths must lie in 1..{w} (the padded word length) at every real token"
        )
    return words, word_lengths, valid


def scatter_words(
    vectors: np.ndarray, valid: np.ndarray, dtype: Optional[np.dtype] = None
) -> np.ndarray:
    """(N, F) word vectors back to time-major (T, B, F), 0 at padded positions; the
    inverse of :func:`gather_words`'s order.

    Rust: src/tag/model.rs (Tagger::forward writes each word's vector at its position).
    """
    out = np.zeros((*valid.shape, vectors.shape[1]), dtype=dtype or vectors.dtype)
    out[valid] = vectors
    return out
