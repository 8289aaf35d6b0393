"""Top-p (nucleus) truncation shared by sampling, divergence and cross-sampling.

One definition for every consumer, so the distribution a token is drawn from is the
very distribution whose divergence is measured.

The definition is a full stable sort of the vocabulary (:func:`stable_order`); at a real
vocabulary that sort costs as much as a decoding step of the model. :func:`top_p_mask`,
:func:`top_p_masks` and :func:`sorted_head` therefore compute the same result, bit for bit,
from less than a sort whenever that is provably identical, and sort only the rows where it
is not. Why each shortcut is exact:

- :func:`sorted_head` (a head of the order): the ``c + 1`` largest values of a row
  (``torch.topk``), ordered by (descending value, ascending id), start with the first ``c``
  entries of the full stable order as long as no token outside them ties with the ``c``-th
  value; when one may, the tied entries are replaced by the smallest ids carrying that value
  (one O(V) scan of the row), which is exactly where the stable sort puts them. Values are
  read back from the row.
- nucleus from a head: the head's values are the first ``c`` sorted values of the row, and the
  CPU cumulative sum of a prefix equals the prefix of the cumulative sum (tests check this), so
  the head's prefix masses are those of the full sort. For non-negative finite rows,
  ``mass_before`` is non-decreasing along the order, so once it reaches ``top_p`` inside the
  head no later token can be kept: the nucleus is decided by the head alone.
- nucleus from a window (float32 rows whose nucleus is larger than the first head): see
  :func:`_window_stage`; it rests on the CPU cumsum adding float32 in a float64 accumulator,
  which is checked when this module is imported (:data:`WINDOW`).
- rows left over go to larger heads (:data:`CANDIDATES`), then to the full sort.

Other devices and dtypes (whose cumulative sums may be computed in another order) and rows
with negative, NaN or infinite entries always take the full sort.
"""

from __future__ import annotations

import torch

from tokenshift.errors import UserError

# Head sizes tried in turn before the full sort: most next-token nuclei hold a few tokens,
# some hold hundreds; a flat distribution's nucleus is a large share of the vocabulary.
CANDIDATES = (64, 1024)
_FAST_DTYPES = (torch.float32, torch.float64)


def stable_order(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, ids) along the last dim by descending probability, ties by ascending id: the definition."""
    return probs.sort(dim=-1, descending=True, stable=True)


def _fast_ok(probs: torch.Tensor, c: int) -> bool:
    return probs.device.type == "cpu" and probs.dtype in _FAST_DTYPES and probs.dim() >= 1 \
        and probs.shape[-1] > c + 1 and probs.numel() > 0


def _head_rows(flat: torch.Tensor, c: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First ``c`` (values, ids) of the stable order of each row of a 2-d ``flat`` without NaN (c + 1 < V)."""
    top_v, top_i = flat.topk(c + 1, dim=-1, largest=True, sorted=True)  # ties in no particular order
    ids_asc, perm = top_i.sort(dim=-1)
    _, order = top_v.gather(-1, perm).sort(dim=-1, descending=True, stable=True)
    ids = ids_asc.gather(-1, order)[:, :c]
    # The c-th value; a token outside the candidates may tie with it only if the (c+1)-th equals it.
    v_c = top_v[:, c - 1]
    tied = top_v[:, c] == v_c
    if bool(tied.any()):
        rows = tied.nonzero(as_tuple=True)[0]
        v = v_c[rows].unsqueeze(-1)
        n_above = (top_v[rows, :c] > v).sum(-1)  # exact already: every token above v_c is a candidate
        need = c - n_above  # slots holding v_c, to fill with the smallest ids of value v_c
        eq = flat[rows] == v
        rank = eq.cumsum(-1)
        sel = eq & (rank <= need.unsqueeze(-1))
        r, col = sel.nonzero(as_tuple=True)  # row-major: ascending ids within each row
        fixed = ids[rows]
        fixed[r, n_above[r] + rank[r, col] - 1] = col
        ids[rows] = fixed
    return flat.gather(-1, ids), ids


def _clean_rows(flat: torch.Tensor) -> torch.Tensor:
    """Rows [n] of finite, non-negative entries (the rows the shortcuts are proven for)."""
    return torch.isfinite(flat.sum(-1)) & (flat.amin(-1) >= 0)


def sorted_head(probs: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, ids) of the first ``k`` entries of :func:`stable_order` along the last dim.

    Identical to ``stable_order(probs)`` cut to ``k`` for every input; sorts rows with NaN
    (and everything when ``k`` is close to the vocabulary size or off the CPU).
    """
    v = probs.shape[-1]
    k = min(k, v)
    if not _fast_ok(probs, k) or k < 1:
        vals, ids = stable_order(probs)
        # Copies, not views: a view of the cut would keep the whole sorted vocabulary alive as long as the
        # caller keeps the head (the dump keeps a batch's heads: positions x vocab otherwise).
        return vals[..., :k].clone(), ids[..., :k].clone()
    flat = probs.reshape(-1, v)
    nan = torch.isnan(flat.sum(-1))
    if not bool(nan.any()):
        vals, ids = _head_rows(flat, k)
    else:
        vals = torch.empty((flat.shape[0], k), dtype=flat.dtype)
        ids = torch.empty((flat.shape[0], k), dtype=torch.long)
        ok = (~nan).nonzero(as_tuple=True)[0]
        if len(ok):
            vals[ok], ids[ok] = _head_rows(flat[ok], k)
        bad = nan.nonzero(as_tuple=True)[0]
        sv, si = stable_order(flat[bad])
        vals[bad], ids[bad] = sv[:, :k], si[:, :k]
    shape = (*probs.shape[:-1], k)
    return vals.reshape(shape), ids.reshape(shape)


def _nucleus(sorted_p: torch.Tensor, top_p: float, mass_before: torch.Tensor | None = None) -> torch.Tensor:
    """Keep flags along a (prefix of the) stable order: the shortest prefix whose mass reaches top_p."""
    if mass_before is None:
        mass_before = sorted_p.cumsum(dim=-1) - sorted_p
    keep_sorted = mass_before < top_p
    keep_sorted[..., 0] = True
    return keep_sorted


def _masks_by_sort(probs: torch.Tensor, top_ps: list[float]) -> list[torch.Tensor]:
    """The definition: one stable sort, then the nucleus of each top_p."""
    sorted_p, order = stable_order(probs)
    mass_before = sorted_p.cumsum(dim=-1) - sorted_p
    return [torch.zeros_like(probs, dtype=torch.bool).scatter(-1, order, _nucleus(sorted_p, p, mass_before))
            for p in top_ps]


def _check_top_p(top_p: float) -> None:
    if not 0.0 < top_p:
        raise UserError(f"top_p must be in (0, 1], got {top_p}")


def _cumsum_is_sequential_in_double() -> bool:
    """Whether the CPU float32 cumsum adds in a float64 accumulator, one element after the other.

    The window stage relies on it (and says so); a torch that did otherwise only loses the stage.
    """
    x = torch.tensor([1.0, 2.0 ** -24, 2.0 ** -24, 0.5], dtype=torch.float32)
    want = torch.tensor([1.0, 1.0, 1.0 + 2.0 ** -23, 1.5 + 2.0 ** -23], dtype=torch.float32)
    return torch.equal(x.cumsum(0), want)


# Value buckets of the window stage: a non-negative float32's exponent and 7 leading mantissa bits
# (bits >> 16), for values in [2**-29, 2); bucket 0 holds everything smaller, the last one everything larger.
_SHIFT = 16
_RAW_LO = (127 - 29) << (23 - _SHIFT)  # raw bucket id of 2**-29
_RAW_HI = (128 << (23 - _SHIFT)) - 1  # raw bucket id of the largest value below 2
_NB = _RAW_HI - _RAW_LO + 2
WINDOW = _cumsum_is_sequential_in_double()


def _window_stage(flat: torch.Tensor, top_ps: list[float]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Nuclei of non-negative finite float32 rows [r, V] that a head did not resolve (large nuclei).

    Returns (mask [r, V], solved [r]) per top_p; masks are only meaningful where solved. Why it is
    exact: bucket order is value order, so the tokens of the buckets above the one where the mass
    crosses ``top_p`` precede all others in the stable order. Every value from there up is at least
    2**-29 and the masses stay below 2, so the float64 accumulator of the CPU cumsum adds exactly,
    whatever the order: the definition's prefix mass at any token is that token's exact prefix sum
    rounded to float32. Only the crossing bucket and the next non-empty one below it (the window)
    are sorted; their prefix masses start from the exact mass of the buckets above. The window must
    contain the nucleus' end (first token kept, last token dropped), else the row is not solved.
    """
    r, v = flat.shape
    k_n = len(top_ps)
    bucket = ((flat.view(torch.int32) >> _SHIFT) - (_RAW_LO - 1)).clamp_(0, _NB - 1).long()  # -0.0 goes to 0
    mass = torch.zeros((r, _NB), dtype=torch.float64).scatter_add_(1, bucket, flat.double())
    above = torch.cat([mass.flip(-1).cumsum(-1).flip(-1), torch.zeros((r, 1), dtype=torch.float64)], dim=1)
    ar = torch.arange(_NB)
    # Per row and bucket, bit k: in the window of top_p k; bit k_n + k: above that window.
    lut = torch.zeros((r, _NB), dtype=torch.int32)
    windows = []
    for k, top_p in enumerate(top_ps):
        hi = (above[:, :_NB] >= top_p).sum(-1) - 1  # the crossing bucket (-1: the row never reaches top_p)
        below = torch.where((mass > 0) & (ar < hi.unsqueeze(-1)), ar, -1).amax(-1)
        lo = torch.where(below >= 1, below, hi)
        base = above.gather(1, (hi + 1).clamp(min=0).unsqueeze(-1))  # exact mass above the window
        ok = (lo >= 1) & (above.gather(1, lo.clamp(min=0).unsqueeze(-1)).squeeze(-1) < 2.0)
        lo = torch.where(ok, lo, _NB).unsqueeze(-1)  # rows that cannot be solved get an empty window
        hi = hi.unsqueeze(-1)
        lut |= ((ar >= lo) & (ar <= hi)).to(torch.int32) << k
        lut |= (ar > hi).to(torch.int32) << (k_n + k)
        windows.append((base, ok))
    code = lut.gather(1, bucket)
    del bucket
    rr, jj = (code & ((1 << k_n) - 1)).nonzero(as_tuple=True)
    cc = code[rr, jj]
    out = []
    for k, top_p in enumerate(top_ps):
        base, ok = windows[k]
        inside = (cc >> k) & 1 == 1
        wr, wj = rr[inside], jj[inside]  # row-major: ascending ids within a row
        counts = torch.bincount(wr, minlength=r)
        mask = (code & (1 << (k_n + k))) != 0
        if len(wr) == 0:
            out.append((mask, torch.zeros(r, dtype=torch.bool)))
            continue
        width = int(counts.max())
        pos = torch.arange(len(wr)) - (counts.cumsum(0) - counts)[wr]
        win = torch.full((r, width), -1.0, dtype=flat.dtype)
        win[wr, pos] = flat[wr, wj]
        ids = torch.zeros((r, width), dtype=torch.long)
        ids[wr, pos] = wj  # so that the stable sort breaks ties by ascending id
        sv, order = win.sort(dim=-1, descending=True, stable=True)
        ids = ids.gather(1, order)
        cum = (base + sv.double().cumsum(dim=-1)).float()
        keep = ((cum - sv) < top_p) & (torch.arange(width) < counts.unsqueeze(-1))
        last = keep.gather(1, (counts - 1).clamp(min=0).unsqueeze(-1)).squeeze(-1)
        solved = ok & (counts > 0) & keep[:, 0] & ~last
        kr, kj = (keep & solved.unsqueeze(-1)).nonzero(as_tuple=True)
        mask[kr, ids[kr, kj]] = True
        out.append((mask, solved))
    return out


def top_p_masks(probs: torch.Tensor, top_ps: list[float] | tuple[float, ...], *,
                candidates: tuple[int, ...] = CANDIDATES, window: bool = True,
                head: tuple[torch.Tensor, torch.Tensor] | None = None, clean: bool = False) -> list[torch.Tensor]:
    """:func:`top_p_mask` of ``probs`` at each of ``top_ps``, sharing the work between them.

    ``head``: ``sorted_head(probs, c)`` if the caller has it already (any ``c``); it is then the
    first head tried. ``window``: whether float32 rows that the first head leaves open go through
    the window stage (:func:`_window_stage`) before larger heads. None of them changes the result.
    ``clean=True`` promises that every entry is finite and non-negative (a softmax of finite
    logits), which saves checking it; the result is wrong if the promise is.
    """
    for p in top_ps:
        _check_top_p(p)
    out: list[torch.Tensor | None] = [None] * len(top_ps)
    todo = [i for i, p in enumerate(top_ps) if p < 1.0]
    for i, p in enumerate(top_ps):
        if p >= 1.0:
            out[i] = torch.ones_like(probs, dtype=torch.bool)
    if not todo:
        return out
    v = probs.shape[-1]
    width = 0 if head is None else head[1].shape[-1]
    stages: list[tuple[int, tuple[torch.Tensor, torch.Tensor] | None]] = []
    if head is not None and probs.numel() > 0 and (width >= v or _fast_ok(probs, 0)):
        stages.append((width, (head[0].reshape(-1, width), head[1].reshape(-1, width))))
    stages += [(c, None) for c in candidates if c > width and c >= 1 and _fast_ok(probs, c)]
    if not stages:
        masks = _masks_by_sort(probs, [top_ps[i] for i in todo])
        for i, m in zip(todo, masks):
            out[i] = m
        return out
    if window and WINDOW and probs.dtype == torch.float32 and _fast_ok(probs, 0) and stages[0][0] < v:
        stages.insert(1, (0, None))  # (0, None): the window stage
    flat = probs.reshape(-1, v)
    n = flat.shape[0]
    masks = {i: torch.zeros_like(flat, dtype=torch.bool) for i in todo}
    # A head that is the whole order (small vocabularies) is the definition itself, for every row.
    clean = torch.ones(n, dtype=torch.bool, device=flat.device) if width >= v or clean else _clean_rows(flat)
    pending = {i: clean.clone() for i in todo}
    for c, given in stages:
        rows = torch.stack([pending[i] for i in todo]).any(0).nonzero(as_tuple=True)[0]
        if len(rows) == 0:
            break
        every = len(rows) == n
        sub = flat if every else flat[rows]
        if c == 0:
            for i, (m, solved) in zip(todo, _window_stage(sub, [top_ps[i] for i in todo])):
                done = pending[i][rows] & solved
                masks[i][rows[done]] = m[done]
                pending[i][rows[done]] = False
            continue
        if given is not None:
            vals, ids = given if every else (given[0][rows], given[1][rows])
        else:
            vals, ids = _head_rows(sub, c)
        mass_before = vals.cumsum(dim=-1) - vals
        for i in todo:
            keep = _nucleus(vals, top_ps[i], mass_before)
            done = pending[i][rows]
            if c < v:
                done &= ~keep[:, -1]  # the nucleus ends strictly inside the head
            r, j = (keep & done.unsqueeze(-1)).nonzero(as_tuple=True)
            masks[i][rows[r], ids[r, j]] = True
            pending[i][rows[done]] = False
    need = {i: pending[i] | ~clean for i in todo}  # rows left to the full sort
    rows = torch.stack(list(need.values())).any(0).nonzero(as_tuple=True)[0]
    if len(rows):
        for i, m in zip(todo, _masks_by_sort(flat[rows], [top_ps[i] for i in todo])):
            sel = need[i][rows]
            masks[i][rows[sel]] = m[sel]
    for i in todo:
        out[i] = masks[i].reshape(probs.shape)
    return out


def top_p_mask(probs: torch.Tensor, top_p: float, *, candidates: tuple[int, ...] = CANDIDATES,
               window: bool = True) -> torch.Tensor:
    """Boolean mask of the nucleus along the last dim.

    Tokens are sorted by descending probability with ties broken by ascending token id
    (stable sort); the shortest prefix whose mass reaches ``top_p`` is kept, and at
    least one token always is. ``top_p >= 1`` keeps the full vocabulary.

    ``candidates`` are the head sizes tried before the full sort and ``window`` whether the
    window stage runs (see the module docstring); they change the speed, never the result.
    """
    return top_p_masks(probs, [top_p], candidates=candidates, window=window)[0]


def truncate_with_mask(probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``probs`` kept on ``mask`` and renormalised: :func:`truncate_top_p` given its mask."""
    kept = probs * mask
    return kept / kept.sum(dim=-1, keepdim=True)


def truncate_top_p(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Top-p truncated and renormalised copy of ``probs`` (same shape and dtype)."""
    if top_p >= 1.0:
        return probs
    return truncate_with_mask(probs, top_p_mask(probs, top_p))
