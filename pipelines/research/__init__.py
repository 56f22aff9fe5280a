"""Strategy research: validation splits (walk-forward, CPCV), statistics and gates."""
