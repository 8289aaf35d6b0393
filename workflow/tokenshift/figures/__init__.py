"""Figures: seaborn plots of the accuracy table, the shift statistics and the cross-sampling sweeps.

``plotting`` holds the shared style and the PDF+PNG writer; ``accuracy``, ``shift`` and
``crosssample`` draw one family of figures each from tables the analysis stages wrote."""
