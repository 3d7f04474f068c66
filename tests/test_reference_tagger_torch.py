"""The tagger's reference against PyTorch in float64 (skipped without torch): the character
encoders and the whole softmax tagger, loss and every gradient, on a ragged batch."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pytest

from rnnrs.reference.tagger import tagger_loss_and_grads, tagger_shapes
from test_reference_tagger import tiny_batch, tiny_config

torch = pytest.importorskip("torch")
nn = torch.nn
pack = torch.nn.utils.rnn


class TorchTagger(nn.Module):  # type: ignore[misc]
    """The tagger of reference/tagger.py written the usual way in PyTorch."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.kind: Optional[str] = cfg["char_encoder"]
        self.embedding = nn.Embedding(cfg["vocab_size"], cfg["embed_size"])
        width = cfg["embed_size"]
        ce, ch = cfg["char_embed_size"], cfg["char_hidden_size"]
        if self.kind is not None:
            self.char_embedding = nn.Embedding(cfg["char_vocab_size"], ce)
        if self.kind == "lstm":
            self.char_rnn = nn.LSTM(ce, ch, bidirectional=True, batch_first=True)
            width += 2 * ch
        elif self.kind == "cnn":
            self.char_cnn = nn.Conv1d(ce, ch, 3, padding=1)
            width += ch
        cls = {"lstm": nn.LSTM, "gru": nn.GRU}[cfg["cell"]]
        dirs = 2 if cfg["bidirectional"] else 1
        self.rnn = cls(width, cfg["hidden_size"], cfg["num_layers"], bidirectional=dirs == 2)
        self.emission = nn.Linear(dirs * cfg["hidden_size"], cfg["num_tags"])

    def char_vectors(self, chars: Any, char_lengths: Any) -> Any:  # (N, W), (N,)
        emb = self.char_embedding(chars)
        if self.kind == "lstm":
            packed = pack.pack_padded_sequence(
                emb, char_lengths, batch_first=True, enforce_sorted=False
            )
            _, (h_n, _) = self.char_rnn(packed)
            return torch.cat([h_n[0], h_n[1]], 1)
        valid = torch.arange(chars.shape[1])[None, :] < char_lengths[:, None]
        conv = self.char_cnn((emb * valid[..., None]).transpose(1, 2))  # (N, F, W)
        return conv.masked_fill(~valid[:, None, :], float("-inf")).max(dim=2).values

    def forward(self, ids: Any, lengths: Any, chars: Any, char_lengths: Any) -> Any:
        x = self.embedding(ids)  # (B, T, E)
        if self.kind is not None:
            valid = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
            vec = self.char_vectors(chars[valid], char_lengths[valid])
            full = torch.zeros(*ids.shape, vec.shape[1], dtype=vec.dtype)
            full[valid] = vec
            x = torch.cat([x, full], 2)
        packed = pack.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pack.pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        return self.emission(out)  # (B, T, K)


@pytest.mark.parametrize("char_encoder,cell", [(None, "gru"), ("lstm", "lstm"), ("cnn", "lstm")])
def test_softmax_tagger_matches_torch(char_encoder: Optional[str], cell: str) -> None:
    rng = np.random.default_rng(11)
    cfg = tiny_config(char_encoder, "softmax", cell=cell)
    params = {n: rng.normal(size=s) * 0.5 for n, s in tagger_shapes(cfg).items()}
    batch = tiny_batch(rng)
    loss, grads, scores = tagger_loss_and_grads(params, cfg, **batch)

    model = TorchTagger(cfg).double()
    model.load_state_dict({n: torch.from_numpy(v) for n, v in params.items()})
    t = {k: torch.from_numpy(v.astype(np.int64)) for k, v in batch.items()}
    out = model(t["ids"], t["lengths"], t["chars"], t["char_lengths"])
    valid = torch.arange(out.shape[1])[None, :] < t["lengths"][:, None]
    t_loss = nn.functional.cross_entropy(out[valid], t["tags"][valid])
    t_loss.backward()
    np.testing.assert_allclose(loss, t_loss.item(), rtol=1e-10)
    np.testing.assert_allclose(
        np.transpose(scores, (1, 0, 2))[valid.numpy()],
        out[valid].detach().numpy(),
        rtol=1e-9,
        atol=1e-12,
    )
    for name, p in model.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=name)
