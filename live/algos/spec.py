"""The algo spec, defined in ``strategies.algo_spec`` (the version config validates it
there without importing ``live``) and re-exported here beside the schedules."""

from strategies.algo_spec import ALGO_NAMES, MARKET, AlgoName, AlgoParamError, AlgoSpec

__all__ = ["ALGO_NAMES", "MARKET", "AlgoName", "AlgoParamError", "AlgoSpec"]
