"""Per-position comparison of two next-token distributions, on device and in chunks.

The definitions (truncation, JS, entropy, ranks, overlap) are written out in docs/definitions.md.

Every quantity of the per-token dump that needs the vocabulary axis is computed here, from
logits of a chunk of positions, so a [positions x vocab] tensor never exceeds one chunk.
Truncation is the nucleus of :mod:`tokenshift.distributions.topp` (``top_p_masks``, the code behind
``truncate_top_p``, the very one used for sampling).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from tokenshift.distributions.divergences import LN2, js_divergence
from tokenshift.distributions.draw import policy_softmax
from tokenshift.distributions.topp import CANDIDATES, sorted_head, top_p_masks
from tokenshift.errors import UserError

AUTO_CHUNK_ELEMENTS = 1 << 23  # ~32 MiB per float32 [chunk x vocab] tensor


@dataclass(frozen=True)
class DivergenceConfig:
    """What to compute: temperature, the analysis top_p, further top_p values, top-k size, chunk."""

    temperature: float = 1.0
    top_p: float = 0.9
    extra_top_p: tuple[float, ...] = (0.7, 0.8, 0.9)
    k: int = 10
    chunk: int = 0  # positions per chunk; 0 = chosen from the vocabulary size

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise UserError(f"temperature must be > 0, got {self.temperature}")
        for p in (self.top_p, *self.extra_top_p):
            if not 0.0 < p <= 1.0:
                raise UserError(f"top_p values must be in (0, 1], got {p}")
        if self.k < 3:
            raise UserError(f"k must be >= 3 (ranks of the tuned top-3 are reported), got {self.k}")
        if self.chunk < 0:
            raise UserError(f"chunk must be >= 0, got {self.chunk}")
        for p in self.extra_top_p:
            # The column name keeps two decimals, and the statistics read top_p back from it.
            if not math.isclose(p * 100, round(p * 100), abs_tol=1e-6):
                raise UserError(f"extra top_p values must have at most two decimals (column js_pXXX), got {p}")

    def extra_columns(self) -> dict[str, float]:
        """``js_pXXX`` column name -> top_p, skipping values equal to the analysis top_p or 1."""
        out = {}
        for p in sorted(set(self.extra_top_p)):
            if p < 1.0 and not math.isclose(p, self.top_p):
                out[js_column(p)] = p
        return out

    def chunk_for(self, vocab: int) -> int:
        """Positions per chunk, so one float32 [chunk x vocab] tensor stays near 32 MiB by default."""
        return self.chunk or max(1, AUTO_CHUNK_ELEMENTS // max(vocab, 1))


def js_column(top_p: float) -> str:
    """Column name of JS at ``top_p``: 0.8 -> ``js_p080``."""
    return f"js_p{round(top_p * 100):03d}"


class NonFiniteLogits(UserError):
    """Logits with NaN or inf; ``index`` is the flat position within the scored positions."""

    def __init__(self, model: str, index: int) -> None:
        super().__init__(f"non-finite logits from the {model} model at flat position {index}")
        self.model = model
        self.index = index


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) along the last dim, with 0 log 0 = 0."""
    return -torch.special.xlogy(p, p).sum(-1)


def sorted_topk(p: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, probs) of the k most likely tokens, ties broken by ascending token id.

    The first k entries of the stable descending sort, found without sorting the vocabulary
    (:func:`tokenshift.distributions.topp.sorted_head`).
    """
    vals, ids = sorted_head(p, k)
    return ids, vals


def rank_of(p: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """1-based rank under ``p`` [n, V] of tokens ``ids`` [n, j] (ties by ascending id), as [n, j]."""
    pv = p.gather(-1, ids)  # [n, j]
    vocab_ids = torch.arange(p.shape[-1], device=p.device)
    higher = p.unsqueeze(1) > pv.unsqueeze(-1)  # [n, j, V]
    tied_before = (p.unsqueeze(1) == pv.unsqueeze(-1)) & (vocab_ids < ids.unsqueeze(-1))
    return 1 + (higher | tied_before).sum(-1)


def topk_overlap_counts(ids_a: torch.Tensor, ids_b: torch.Tensor) -> torch.Tensor:
    """|TopK(a) ∩ TopK(b)| for every k = 1..K at once, as [n, K] (ids must be distinct per row)."""
    eq = (ids_a.unsqueeze(-1) == ids_b.unsqueeze(-2)).to(torch.int32)  # [n, K, K]
    cum = eq.cumsum(-1).cumsum(-2)
    return cum.diagonal(dim1=-2, dim2=-1)


def _check_finite(name: str, logits: torch.Tensor) -> None:
    """Raise :class:`NonFiniteLogits` at the first row with NaN or inf (scanned only if some row sum is not finite)."""
    if bool(torch.isfinite(logits.sum(-1)).all()):
        return
    bad = ~torch.isfinite(logits).all(-1)
    if bool(bad.any()):
        raise NonFiniteLogits(name, int(bad.nonzero()[0, 0]))


def _js_full(p: torch.Tensor, q: torch.Tensor, xp: torch.Tensor, xq: torch.Tensor) -> torch.Tensor:
    """``js_divergence(p, q)`` given ``xp = xlogy(p, p)`` and ``xq = xlogy(q, q)`` (the entropies' terms)."""
    m = 0.5 * (p + q)
    t = torch.xlogy(p, m)
    kl_pm = torch.sub(xp, t, out=t).sum(dim=-1)
    t = torch.xlogy(q, m, out=t)
    kl_qm = torch.sub(xq, t, out=t).sum(dim=-1)
    return (0.5 * (kl_pm + kl_qm)).clamp(min=0.0, max=LN2)


def _js_truncated(p: torch.Tensor, mask_p: torch.Tensor, q: torch.Tensor, mask_q: torch.Tensor,
                  buf: torch.Tensor) -> torch.Tensor:
    """``js_divergence(truncate_with_mask(p, mask_p), truncate_with_mask(q, mask_q))`` for finite,
    non-negative rows (softmax outputs), bit for bit.

    ``where(mask, p, 0)`` equals ``p * mask`` on such rows. When the nuclei are small, the logarithms
    are taken on their union only: outside it both truncated rows are +0 and every term of the
    definition is +0, so the [n, V] term tensors are rebuilt exactly in ``buf`` and summed by the
    same reduction.
    """
    kept_p, kept_q = torch.where(mask_p, p, 0.0), torch.where(mask_q, q, 0.0)
    s_p, s_q = kept_p.sum(dim=-1, keepdim=True), kept_q.sum(dim=-1, keepdim=True)
    union = mask_p | mask_q
    size = int(union.sum())
    if size * 8 > union.numel() or not bool(((s_p > 0) & (s_q > 0) & torch.isfinite(s_p)
                                             & torch.isfinite(s_q)).all()):
        return js_divergence(kept_p.div_(s_p), kept_q.div_(s_q))
    r, j = union.nonzero(as_tuple=True)
    a = kept_p[r, j] / s_p[r, 0]
    b = kept_q[r, j] / s_q[r, 0]
    m = 0.5 * (a + b)
    buf.zero_()
    buf[r, j] = torch.xlogy(a, a) - torch.xlogy(a, m)
    kl_pm = buf.sum(dim=-1)
    buf[r, j] = torch.xlogy(b, b) - torch.xlogy(b, m)
    kl_qm = buf.sum(dim=-1)
    return (0.5 * (kl_pm + kl_qm)).clamp(min=0.0, max=LN2)


def _ranks_from_head(p: torch.Tensor, head_ids: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``rank_of(p, ids)``: a token's position in the exact head of ``p``'s order, counted over V if not in it."""
    match = head_ids.unsqueeze(1) == ids.unsqueeze(-1)  # [n, j, head]
    found = match.any(-1)
    ranks = match.to(torch.int64).argmax(-1) + 1
    if not bool(found.all()):
        rows = (~found).any(-1).nonzero(as_tuple=True)[0]
        ranks[rows] = torch.where(found[rows], ranks[rows], rank_of(p[rows], ids[rows]))
    return ranks


def position_stats(logits_base: torch.Tensor, logits_tuned: torch.Tensor, tokens: torch.Tensor,
                   cfg: DivergenceConfig) -> dict[str, torch.Tensor]:
    """Every per-position quantity for one chunk of positions; logits [n, V], tokens [n].

    Keys: logprob_base/tuned, entropy_base/tuned, js, js_full, js_pXXX, topk_ids/probs_base/tuned,
    topk_overlap, base_rank_of_tuned_top1..3, base_prob_of_tuned_top1..3.

    Every value equals, bit for bit, the direct computation from the definitions (``policy_probs``,
    ``entropy``, ``js_divergence`` of ``truncate_top_p``, ``sorted_topk``, ``rank_of``): the vocabulary is
    sorted only where :mod:`tokenshift.distributions.topp` cannot avoid it, one head of each order serves
    the top-k list, the ranks and every top_p, the entropies' ``p log p`` terms are reused by ``js_full``,
    and truncated JS takes logarithms on the nuclei only.
    """
    for name, lg in (("base", logits_base), ("tuned", logits_tuned)):
        _check_finite(name, lg)
    pb = policy_softmax(logits_base, cfg.temperature)
    pt = policy_softmax(logits_tuned, cfg.temperature)
    k = min(cfg.k, pb.shape[-1])
    head_b = sorted_head(pb, max(k, CANDIDATES[0]))
    head_t = sorted_head(pt, max(k, CANDIDATES[0]))
    extra = cfg.extra_columns()
    cut = sorted({p for p in (cfg.top_p, *extra.values()) if p < 1.0})
    masks_b = dict(zip(cut, top_p_masks(pb, cut, head=head_b, clean=True)))
    masks_t = dict(zip(cut, top_p_masks(pt, cut, head=head_t, clean=True)))
    xb = torch.xlogy(pb, pb)
    xt = torch.xlogy(pt, pt)
    tok = tokens.unsqueeze(-1)
    out: dict[str, torch.Tensor] = {
        "logprob_base": torch.log(pb.gather(-1, tok)).squeeze(-1),
        "logprob_tuned": torch.log(pt.gather(-1, tok)).squeeze(-1),
        "entropy_base": -xb.sum(-1),
        "entropy_tuned": -xt.sum(-1),
    }
    js_full = _js_full(pb, pt, xb, xt)
    del xb, xt
    buf = torch.empty_like(pb) if cut else None
    js = {p: _js_truncated(pb, masks_b[p], pt, masks_t[p], buf) for p in cut}
    out["js"] = js.get(cfg.top_p, js_full) if cfg.top_p < 1.0 else js_full
    out["js_full"] = js_full
    for col, p in extra.items():
        out[col] = js[p]
    ids_b, probs_b = head_b[1][:, :k], head_b[0][:, :k]
    ids_t, probs_t = head_t[1][:, :k], head_t[0][:, :k]
    out.update(topk_ids_base=ids_b, topk_probs_base=probs_b, topk_ids_tuned=ids_t, topk_probs_tuned=probs_t,
               topk_overlap=topk_overlap_counts(ids_b, ids_t))
    top3 = ids_t[:, :3]
    ranks = _ranks_from_head(pb, head_b[1], top3)
    base_p = pb.gather(-1, top3)
    for i in range(3):
        out[f"base_rank_of_tuned_top{i + 1}"] = ranks[:, i]
        out[f"base_prob_of_tuned_top{i + 1}"] = base_p[:, i]
    return out


def chunked_stats(hidden_base: torch.Tensor, hidden_tuned: torch.Tensor, tokens: torch.Tensor,
                  head_base: Callable[[torch.Tensor], torch.Tensor],
                  head_tuned: Callable[[torch.Tensor], torch.Tensor],
                  vocab: int, cfg: DivergenceConfig) -> dict[str, torch.Tensor]:
    """:func:`position_stats` over [N, H] hidden states, applying each LM head one chunk at a time.

    Only the chunk's logits ([chunk, vocab]) exist at any moment; results are concatenated
    (they are O(N * k), not O(N * vocab)). Raises :class:`NonFiniteLogits` with a flat index.
    """
    step = cfg.chunk_for(vocab)
    parts: list[dict[str, torch.Tensor]] = []
    for start in range(0, tokens.shape[0], step):
        sl = slice(start, start + step)
        try:
            parts.append(position_stats(head_base(hidden_base[sl]), head_tuned(hidden_tuned[sl]), tokens[sl], cfg))
        except NonFiniteLogits as exc:
            raise NonFiniteLogits(exc.model, start + exc.index) from None
    if not parts:
        return {}
    return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
