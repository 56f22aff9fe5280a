"""Research side: walk-forward and CPCV splits, overfitting statistics, gates."""
