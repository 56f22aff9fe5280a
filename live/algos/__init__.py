"""Execution algos: parent orders worked as child orders (pure planning, no I/O)."""
