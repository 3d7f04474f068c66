"""Sequence to sequence: rnnrs's encoder-decoder next to the same model in PyTorch, in one
run, printed as ratios.

    python benches/bench_seq2seq.py                       # speed, 1 and 2 threads
    python benches/bench_seq2seq.py --quick               # a short smoke run
    python benches/bench_seq2seq.py --quality --minutes 20   # G2P dev word error rate

Prints one JSON object per line. The model (S1 of DESIGN.md, PyTorch's seq2seq tutorial
architecture batched): char source, phone target, GRU 256 (a bidirectional encoder of 128
per direction, one decoder layer), additive attention with input feeding, embeddings 64,
batch 64, Adam (lr 2e-3, clipping at 5). Both frameworks start from the same weights
(rnnrs's initialisation loaded into the torch module below) and train on the same batches.

Speed: training target tokens/s (teacher-forced forward + backward + clip + Adam) and beam-5
decoding words/s (rnnrs: one batched call; PyTorch: a decoding loop over the words, the K
beams of a word batched), each measurement in a fresh process per thread count.

Quality: grapheme-to-phoneme on ../shared/data/cmudict (train.dict, dev.dict; see its
README), each framework trained for ``--minutes`` on 2 threads, then the dev word error rate
(1 - exact match, a word right when it matches any of its pronunciations) of greedy decoding.
Both anneal the learning rate the same way: a cosine from lr to lr/20 over the time budget
(``annealed_lr``), since a constant rate leaves the last minutes' weights noisy.
Without the data the built-in dates task stands in (and says so).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

import schedule

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cmudict"
S1 = {"embed_size": 64, "hidden_size": 256, "batch": 64}
LR, CLIP, BEAM = 2e-3, 5.0, 5


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def pairs(split: str, limit: Optional[int]) -> tuple[list[str], list[str], str]:
    """(words, phone strings, source name) of a CMUdict split, or the dates task."""
    from rnnrs.text.dates import dates_task
    from rnnrs.text.tasks import read_cmudict

    path = DATA / f"{split}.dict"
    if path.exists():
        data = read_cmudict(path)
        n = len(data) if limit is None else min(limit, len(data))
        return data.sources[:n], data.targets[:n], str(path)
    src, tgt = dates_task(limit or 20_000, seed=0 if split == "train" else 1)
    return src, [" ".join(t) for t in tgt], "the built-in dates task (no cmudict)"


def build(src: list[str], tgt: list[str], sizes: dict[str, int]) -> Any:
    import rnnrs

    return rnnrs.Seq2Seq(
        rnnrs.CharTokenizer.fit("".join(src)),
        rnnrs.WordTokenizer.fit(tgt),
        cell="gru",
        embed_size=sizes["embed_size"],
        hidden_size=sizes["hidden_size"],
        attention="additive",
        backend="rust",
    )


def torch_twin(model: Any) -> Any:
    """The same network in PyTorch (nn.Embedding, nn.GRU, nn.Linear) with rnnrs's weights."""
    import torch
    from torch import nn
    from torch.nn.utils import rnn as pack

    cfg = model._engine_config
    h, e = cfg["hidden_size"], cfg["embed_size"]

    class TorchSeq2Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.ModuleDict(
                {
                    "embedding": nn.Embedding(cfg["source_vocab"], e),
                    "rnn": nn.GRU(e, h // 2, 1, bidirectional=True),
                }
            )
            self.bridge = nn.Linear(h, h)
            self.decoder = nn.ModuleDict(
                {"embedding": nn.Embedding(cfg["target_vocab"], e), "rnn": nn.GRU(e + h, h)}
            )
            a = cfg["attention_size"]
            self.attention = nn.Module()
            self.attention.linear_query = nn.Linear(h, a)
            self.attention.linear_context = nn.Linear(h, a, bias=False)
            self.attention.v = nn.Parameter(torch.zeros(a))
            self.attention.linear_out = nn.Linear(2 * h, h, bias=False)
            self.generator = nn.Linear(h, cfg["target_vocab"])

        def encode(self, src: Any, src_len: Any) -> tuple[Any, Any, Any, Any]:
            emb = self.encoder["embedding"](src.T)
            packed = pack.pack_padded_sequence(emb, src_len, enforce_sorted=False)
            out, h_n = self.encoder["rnn"](packed)
            mem, _ = pack.pad_packed_sequence(out, total_length=src.shape[1])
            state = torch.tanh(self.bridge(torch.cat([h_n[-2], h_n[-1]], 1)))[None]
            keys = self.attention.linear_context(mem)
            valid = torch.arange(src.shape[1])[:, None] < src_len[None, :]
            return mem, keys, valid, state.contiguous()

        def step(self, prev: Any, feed: Any, state: Any, enc: tuple[Any, ...]) -> Any:
            mem, keys, valid = enc
            att = self.attention
            x = torch.cat([self.decoder["embedding"](prev), feed], 1)
            top, state = self.decoder["rnn"](x[None], state)
            q = top[0]
            u = torch.tanh(keys + att.linear_query(q))
            a = torch.softmax((u @ att.v).masked_fill(~valid, float("-inf")), 0)
            ctx = (a[:, :, None] * mem).sum(0)
            ht = torch.tanh(att.linear_out(torch.cat([ctx, q], 1)))
            return self.generator(ht), ht, state

        def loss(self, src: Any, src_len: Any, tgt: Any, tgt_len: Any) -> Any:
            mem, keys, valid, state = self.encode(src, src_len)
            b, t = tgt.shape
            feed = torch.zeros(b, h)
            prev = torch.full((b,), cfg["bos_id"])
            logits = []
            for k in range(t):
                out, feed, state = self.step(prev, feed, state, (mem, keys, valid))
                logits.append(out)
                prev = tgt[:, k]
            gold = tgt.T.clone()
            gold[torch.arange(t)[:, None] >= tgt_len[None, :]] = -100
            flat = torch.stack(logits).reshape(-1, cfg["target_vocab"])
            return nn.functional.cross_entropy(flat, gold.reshape(-1), ignore_index=-100)

    net = TorchSeq2Seq()
    with torch.no_grad():
        for name, value in model.parameters().items():
            dict(net.named_parameters())[name].copy_(torch.from_numpy(value))
    return net


def torch_beam(net: Any, src: list[int], cfg: dict[str, Any], width: int, limit: int) -> list[int]:
    """Beam search for one source, the ``width`` hypotheses batched (a PyTorch decoding loop
    with rnnrs's rule: 2*width candidates, eos finishes, rank by mean log-probability)."""
    import torch

    k = width
    s = torch.tensor([src] * k)
    enc = net.encode(s, torch.tensor([len(src)] * k))
    state, feed = enc[3], torch.zeros(k, cfg["hidden_size"])
    prev = torch.full((k,), cfg["bos_id"])
    scores = torch.full((k,), float("-inf"))
    scores[0] = 0.0
    hyps: list[list[int]] = [[] for _ in range(k)]
    finished: list[tuple[float, list[int]]] = []
    for _ in range(limit):
        logits, feed, state = net.step(prev, feed, state, enc[:3])
        logits[:, cfg["bos_id"]] = float("-inf")
        cand = (scores[:, None] + torch.log_softmax(logits, 1)).reshape(-1)
        top = torch.topk(cand, 2 * k)
        parents, new_scores, new_hyps = [], [], []
        for total, flat in zip(top.values.tolist(), top.indices.tolist()):
            j, token = divmod(flat, logits.shape[1])
            if token == cfg["eos_id"]:
                finished.append((total / (len(hyps[j]) + 1), hyps[j]))
            else:
                parents.append(j)
                new_scores.append(total)
                new_hyps.append([*hyps[j], token])
            if len(new_hyps) == k:
                break
        if len(finished) >= k and sorted(f[0] for f in finished)[-k] >= new_scores[0] / len(
            new_hyps[0]
        ):
            break
        idx = torch.tensor(parents)
        state, feed = state[:, idx], feed[idx]
        scores, hyps = torch.tensor(new_scores), new_hyps
        prev = torch.tensor([hyp[-1] for hyp in hyps])
    finished.extend((float(sc) / len(hp), hp) for sc, hp in zip(scores.tolist(), hyps))
    return max(finished, key=lambda f: f[0])[1]


def speed(framework: str, threads: int, quick: bool) -> dict[str, Any]:
    """Train tokens/s and beam-5 words/s of one framework (in this process)."""
    import rnnrs

    src, tgt, source = pairs("train", 2_000 if quick else 20_000)
    sizes = {**S1, "hidden_size": 64} if quick else S1
    model = build(src, tgt, sizes)
    data = model.pair_batches((src, tgt), sizes["batch"])
    steps = 3 if quick else 40
    batches = data.epoch_batches(0, range(min(steps + 1, data.steps_per_epoch)))
    words = src[: 16 if quick else 256]
    limits = [min(30, int(2 * len(w) + 10)) for w in words]
    if framework == "rnnrs":
        rnnrs.set_num_threads(threads)
        model.configure_optimizer(rnnrs.Adam(lr=LR).spec())
        model.engine.train_steps(batches[:1], [LR], CLIP, None)  # warm-up
        start = time.perf_counter()
        _, _, tokens = model.engine.train_steps(batches[1:], [LR] * (len(batches) - 1), CLIP, None)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        model.translate(words, beam=BEAM)
        decode_s = time.perf_counter() - start
    else:
        import torch

        torch.set_num_threads(threads)
        net = torch_twin(model)
        opt = torch.optim.Adam(net.parameters(), lr=LR)
        tokens = 0
        start = 0.0
        for k, (s, sl, t, tl) in enumerate(batches):
            if k == 1:
                start = time.perf_counter()
            loss = net.loss(*(torch.from_numpy(a.astype(np.int64)) for a in (s, sl, t, tl)))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), CLIP)
            opt.step()
            tokens += int(tl.sum()) if k else 0
        train_s = time.perf_counter() - start
        enc = model._encode(words, "source", "words")
        start = time.perf_counter()
        with torch.no_grad():
            for ids, limit in zip(enc, limits):
                torch_beam(net, ids.tolist(), model._engine_config, BEAM, limit)
        decode_s = time.perf_counter() - start
    return {
        "framework": framework,
        "threads": threads,
        "data": source,
        "train_tokens_s": tokens / train_s,
        "beam_words_s": len(words) / decode_s,
    }


def annealed_lr(deadline: float, seconds: float) -> float:
    """The learning rate when ``deadline - now`` of a ``seconds`` budget is left
    (``schedule.annealed_lr``: a cosine from LR down to LR / 20)."""
    return schedule.annealed_lr(LR, seconds - (deadline - time.perf_counter()), seconds)


def quality(framework: str, minutes: float, quick: bool) -> dict[str, Any]:
    """Dev word error rate after ``minutes`` of training on 2 threads."""
    import rnnrs
    from rnnrs.text.tasks import PairData

    src, tgt, source = pairs("train", 2_000 if quick else None)
    dev_src, dev_tgt, _ = pairs("dev", 200 if quick else None)
    model = build(src, tgt, {**S1, "hidden_size": 64} if quick else S1)
    data = model.pair_batches((src, tgt), S1["batch"])
    sources, refs = PairData(dev_src, dev_tgt).grouped()
    deadline = time.perf_counter() + 60 * minutes
    epoch, steps = 0, 0
    if framework == "rnnrs":
        rnnrs.set_num_threads(2)
        model.configure_optimizer(rnnrs.Adam(lr=LR).spec())
        while time.perf_counter() < deadline:
            for k in range(data.steps_per_epoch):
                lr = annealed_lr(deadline, 60 * minutes)
                model.engine.train_steps(data.epoch_batches(epoch, [k]), [lr], CLIP, None)
                steps += 1
                if time.perf_counter() >= deadline:
                    break
            epoch += 1
        result = model.evaluate(sources, refs)
    else:
        import torch

        torch.set_num_threads(2)
        net = torch_twin(model)
        opt = torch.optim.Adam(net.parameters(), lr=LR)
        while time.perf_counter() < deadline:
            for k in range(data.steps_per_epoch):
                (batch,) = data.epoch_batches(epoch, [k])
                loss = net.loss(*(torch.from_numpy(a.astype(np.int64)) for a in batch))
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), CLIP)
                for group in opt.param_groups:
                    group["lr"] = annealed_lr(deadline, 60 * minutes)
                opt.step()
                steps += 1
                if time.perf_counter() >= deadline:
                    break
            epoch += 1
        model.set_parameters({n: p.detach().numpy() for n, p in net.named_parameters()})
        result = model.evaluate(sources, refs)
    return {
        "framework": framework,
        "data": source,
        "minutes": minutes,
        "steps": steps,
        "dev_word_error_rate": 1.0 - result.exact_match,
        "dev_phone_error_rate": result.token_error_rate,
    }


def in_subprocess(args: list[str]) -> Any:
    out = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "2"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: Optional[list[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a tiny model and few steps")
    ap.add_argument("--threads", default="1,2", help="speed: comma-separated thread counts")
    ap.add_argument("--quality", action="store_true", help="dev word error rate at equal time")
    ap.add_argument("--minutes", type=float, default=20.0, help="quality: training time")
    ap.add_argument("--probe", nargs=2, metavar=("FW", "THREADS"), help=argparse.SUPPRESS)
    ap.add_argument("--quality-probe", metavar="FW", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        emit(speed(args.probe[0], int(args.probe[1]), args.quick))
        return
    if args.quality_probe:
        emit(quality(args.quality_probe, args.minutes, args.quick))
        return
    quick = ["--quick"] if args.quick else []
    if args.quality:
        runs = {
            fw: in_subprocess(["--quality-probe", fw, "--minutes", str(args.minutes), *quick])
            for fw in ("rnnrs", "torch")
        }
        for record in runs.values():
            emit({"kind": "quality", **record})
        emit(
            {
                "kind": "quality_side_by_side",
                "rnnrs_wer": runs["rnnrs"]["dev_word_error_rate"],
                "torch_wer": runs["torch"]["dev_word_error_rate"],
            }
        )
        return
    for threads in (int(t) for t in args.threads.split(",")):
        r = in_subprocess(["--probe", "rnnrs", str(threads), *quick])
        t = in_subprocess(["--probe", "torch", str(threads), *quick])
        emit(
            {
                "kind": "speed",
                "threads": threads,
                "data": r["data"],
                "rnnrs_train_tokens_s": r["train_tokens_s"],
                "torch_train_tokens_s": t["train_tokens_s"],
                "train_ratio": r["train_tokens_s"] / t["train_tokens_s"],
                "rnnrs_beam_words_s": r["beam_words_s"],
                "torch_beam_words_s": t["beam_words_s"],
                "beam_ratio": r["beam_words_s"] / t["beam_words_s"],
            }
        )


if __name__ == "__main__":
    main()
