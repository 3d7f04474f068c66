"""The PyTorch module equivalent to a ``SequenceTagger``, built on demand (torch is not a
dependency of rnnrs): the tagger's parameters carry this module's state_dict names.

Example:
    >>> m = torch_tagger(tagger.config, tagger.tokenizer.vocab_size)  # doctest: +SKIP
    >>> m.load_state_dict({k: torch.from_numpy(v)
    ...                    for k, v in tagger.to_torch_state_dict().items()})  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def torch_tagger(config: Mapping[str, Any], vocab_size: int) -> Any:
    """A ``torch.nn.Module`` equivalent to a ``SequenceTagger`` of ``config``
    (``tagger.config``) over ``vocab_size`` words (requires torch).

    Submodules: ``embedding`` (Embedding), ``char_embedding`` with ``char_rnn`` (a
    bidirectional one-layer LSTM fed a ``pack_padded_sequence``; the final states) or
    ``char_cnn`` (Conv1d, window 3, padding 1; max over each word's characters), ``rnn``
    (LSTM/GRU/RNN fed a ``pack_padded_sequence``), ``emission`` (Linear) and, for a CRF,
    ``crf`` holding ``transitions``, ``start_transitions``, ``end_transitions`` (pytorch-crf's
    names). ``module(ids, lengths, chars, char_lengths)`` returns the emission scores
    (B, T, K) of padded batches as ``SequenceTagger``'s engines take them;
    ``module.crf_nll(scores, tags, lengths)`` is the CRF's summed negative log-likelihood
    (the forward algorithm, batched) and ``module.viterbi(scores, lengths)`` its decoding.
    Dropout: on the stack's input, between its layers and on its output.
    """
    try:
        import torch
    except ImportError:
        raise ImportError("torch_tagger needs PyTorch (pip install torch)") from None
    nn, pack = torch.nn, torch.nn.utils.rnn

    class TorchSequenceTagger(nn.Module):
        def __init__(self, cfg: Mapping[str, Any]) -> None:
            super().__init__()
            self.kind = cfg["char_encoder"]
            embed, hidden, cell = cfg["embed_size"], cfg["hidden_size"], cfg["cell"]
            ce, ch = cfg["char_embed_size"], cfg["char_hidden_size"]
            tags = len(cfg["tags"])
            self.embedding = nn.Embedding(vocab_size, embed)
            width = embed
            if self.kind is not None:
                self.char_embedding = nn.Embedding(len(dict.fromkeys(cfg["chars"])) + 1, ce)
            if self.kind == "lstm":
                self.char_rnn = nn.LSTM(ce, ch, bidirectional=True, batch_first=True)
                width += 2 * ch
            elif self.kind == "cnn":
                self.char_cnn = nn.Conv1d(ce, ch, 3, padding=1)
                width += ch
            options = {
                "bidirectional": cfg["bidirectional"],
                "dropout": cfg["dropout"] if cfg["num_layers"] > 1 else 0.0,
                "batch_first": True,
            }
            self.rnn: torch.nn.RNNBase
            if cell in ("lstm", "gru"):
                rnn_class = nn.LSTM if cell == "lstm" else nn.GRU
                self.rnn = rnn_class(width, hidden, cfg["num_layers"], **options)
            else:
                nonlinearity = "relu" if cell == "rnn_relu" else "tanh"
                self.rnn = nn.RNN(
                    width, hidden, cfg["num_layers"], nonlinearity=nonlinearity, **options
                )
            self.drop = nn.Dropout(cfg["dropout"])
            dirs = 2 if cfg["bidirectional"] else 1
            self.emission = nn.Linear(dirs * hidden, tags)
            if cfg["output"] == "crf":
                self.crf = nn.ParameterDict(
                    {
                        "transitions": nn.Parameter(torch.zeros(tags, tags)),
                        "start_transitions": nn.Parameter(torch.zeros(tags)),
                        "end_transitions": nn.Parameter(torch.zeros(tags)),
                    }
                )

        def char_vectors(self, chars: Any, char_lengths: Any) -> Any:  # (N, W), (N,)
            emb = self.char_embedding(chars)
            if self.kind == "lstm":
                packed = pack.pack_padded_sequence(
                    emb, char_lengths.cpu(), batch_first=True, enforce_sorted=False
                )
                _, (h_n, _) = self.char_rnn(packed)
                return torch.cat([h_n[0], h_n[1]], 1)
            valid = torch.arange(chars.shape[1])[None, :] < char_lengths[:, None]
            conv = self.char_cnn((emb * valid[..., None]).transpose(1, 2))  # (N, F, W)
            return conv.masked_fill(~valid[:, None, :], float("-inf")).max(dim=2).values

        def forward(
            self, ids: Any, lengths: Any, chars: Any = None, char_lengths: Any = None
        ) -> Any:
            x = self.embedding(ids)  # (B, T, E)
            valid = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
            if self.kind is not None:
                vec = self.char_vectors(chars[valid], char_lengths[valid])
                full = x.new_zeros(*ids.shape, vec.shape[1])
                full[valid] = vec
                x = torch.cat([x, full], 2)
            x = self.drop(x * valid[..., None])
            packed = pack.pack_padded_sequence(
                x, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            out, _ = self.rnn(packed)
            out, _ = pack.pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
            return self.emission(self.drop(out))  # (B, T, K)

        def crf_nll(self, scores: Any, tags: Any, lengths: Any) -> Any:
            """Summed negative log-likelihood of ``tags`` (B, T) under the CRF."""
            trans = self.crf["transitions"]
            start, end = self.crf["start_transitions"], self.crf["end_transitions"]
            b, t, _ = scores.shape
            rows = torch.arange(b)
            mask = torch.arange(t)[None, :] < lengths[:, None]  # (B, T)
            alpha = start + scores[:, 0]  # (B, K)
            gold = start[tags[:, 0]] + scores[rows, 0, tags[:, 0]]
            for i in range(1, t):
                nxt = torch.logsumexp(alpha[:, :, None] + trans[None], dim=1) + scores[:, i]
                alpha = torch.where(mask[:, i, None], nxt, alpha)
                step = trans[tags[:, i - 1], tags[:, i]] + scores[rows, i, tags[:, i]]
                gold = gold + step * mask[:, i]
            last = tags[rows, lengths - 1]
            log_z = torch.logsumexp(alpha + end, dim=1)
            return (log_z - gold - end[last]).sum()

        def viterbi(
            self, scores: Any, lengths: Any, constraints: Any = None
        ) -> list[list[int]]:
            """The best tag path of each row; ``constraints`` (allowed (K, K), allowed
            first (K), allowed last (K), as ``rnnrs.reference.crf.Constraints``) forbids
            the other transitions, as rnnrs's constrained decoding does."""
            trans = self.crf["transitions"]
            start, end = self.crf["start_transitions"], self.crf["end_transitions"]
            if constraints is not None:
                allowed, first, last = (torch.as_tensor(c, dtype=torch.bool) for c in constraints)
                never = torch.tensor(float("-inf"))
                trans = torch.where(allowed, trans, never)
                start = torch.where(first, start, never)
                end = torch.where(last, end, never)
            b, t, _ = scores.shape
            mask = torch.arange(t)[None, :] < lengths[:, None]
            score = start + scores[:, 0]
            back = []
            for i in range(1, t):
                best, arg = (score[:, :, None] + trans[None]).max(dim=1)
                back.append(arg)
                score = torch.where(mask[:, i, None], best + scores[:, i], score)
            score = score + end
            paths = []
            for row in range(b):
                n = int(lengths[row])
                tag = int(score[row].argmax())
                path = [tag]
                for i in range(n - 1, 0, -1):
                    tag = int(back[i - 1][row, tag])
                    path.append(tag)
                paths.append(path[::-1])
            return paths

    return TorchSequenceTagger(config)
