"""Which shift figures exist, which statistics tables each reads and which pairs and datasets it draws.

Kept apart from the drawing code (:mod:`tokenshift.figures.shift`) because the workflow reads it when it plans
its rules, which should not cost a matplotlib import.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FigureSpec:
    tables: tuple[str, ...]
    draw: str  # the drawing function's name in tokenshift.figures.shift
    compare: bool  # True: every pair (SFT vs RL); False: the primary pairs
    topp: bool = False  # True: the first dataset and its top-p resamplings; False: the analysed datasets


FIGURES: dict[str, FigureSpec] = {
    "fig01_js_percentiles": FigureSpec(("js_percentiles",), "js_percentile_curves", False),
    "fig26_js_topp_sampling": FigureSpec(("js_percentiles",), "js_topp_sampling", False, topp=True),
    "fig28_js_truncated_vs_full": FigureSpec(("js_percentiles",), "js_topp_robustness", False),
    "fig02_js_by_position": FigureSpec(("position_profile",), "js_by_position", False),
    "fig22_js_local_averages": FigureSpec(("local_averages",), "js_local_averages", False),
    "fig03_entropy_bins": FigureSpec(("entropy_by_divergence",), "entropy_bins", False),
    "fig23_seq_entropy_vs_js": FigureSpec(("sequence_means",), "sequence_entropy_vs_js", False),
    "fig04_tokens_high_low": FigureSpec(("token_frequency",), "token_ranking", False),
    "fig19_token_js_histograms": FigureSpec(("token_js_histograms",), "token_js_histograms", False),
    "fig07_topk_overlap": FigureSpec(("topk_overlap",), "topk_overlap_thresholds", False),
    "fig17_base_rank": FigureSpec(("rank_distribution",), "base_rank", False),
    "fig18_tail": FigureSpec(("tail_shares", "tail_tuned_probs"), "tail_figure", False),
    "fig21_top3_changes": FigureSpec(("top3_changes",), "top3_changes", False),
    "fig08_sft_vs_rl_js_percentiles": FigureSpec(("js_percentiles",), "js_percentile_curves", True),
    "fig09_sft_vs_rl_tail": FigureSpec(("tail_shares",), "tail_shares", True),
    "fig10_sft_vs_rl_position": FigureSpec(("position_profile",), "mean_js_by_position", True),
    "fig11_sft_vs_rl_topk_overlap": FigureSpec(("topk_overlap",), "topk_overlap", True),
    "fig12_sft_vs_rl_base_rank": FigureSpec(("rank_distribution",), "base_rank", True),
}
