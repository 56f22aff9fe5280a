"""Pre-trade market impact: the estimate, its calibration and the per-order cost budget."""
