"""benches/bench_seq2seq.py: its PyTorch twin of the model gives rnnrs's loss and
gradients on the same batch, and its beam-search loop finds what rnnrs's beam search finds
(skipped without torch or the Rust core)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from bench_module import load_bench
from rnnrs.backends.selection import rust_available
from rnnrs.text.dates import dates_task

pytestmark = pytest.mark.skipif(not rust_available(), reason="the Rust extension is not built")


def bench() -> ModuleType:
    return load_bench("bench_seq2seq")


def test_the_torch_twin_matches_rnnrs() -> None:
    torch = pytest.importorskip("torch")
    b = bench()
    src, tgt = dates_task(64, seed=0)
    tgt = [" ".join(t) for t in tgt]
    model = b.build(src, tgt, {"embed_size": 8, "hidden_size": 16, "batch": 16})
    data = model.pair_batches((src, tgt), 16)
    (batch,) = data.epoch_batches(0, [0])
    loss, grads = model.engine.loss_and_grads(batch, False)
    net = b.torch_twin(model)
    want = net.loss(*(torch.from_numpy(a.astype(np.int64)) for a in batch))
    want.backward()
    assert abs(loss - float(want.detach())) < 1e-5
    for name, p in net.named_parameters():
        assert np.allclose(grads[name], p.grad.numpy(), atol=1e-5), name
    words = model._encode(src[:4], "source", "words")
    cfg = model._engine_config
    with torch.no_grad():
        loop = [b.torch_beam(net, w.tolist(), cfg, 3, 8) for w in words]
    assert loop == model.translate_ids(src[:4], beam=3, max_length=8)
