"""Research validation: walk-forward and combinatorial purged cross-validation splits."""
