"""Research partitions: one per (dataset, strategy) pair named in the research settings."""

from __future__ import annotations

import dagster as dg

from pipelines.research.config import ResearchSettings

DATASET = "dataset"
STRATEGY = "strategy"


def research_partitions(research: ResearchSettings) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition({
        DATASET: dg.StaticPartitionsDefinition(list(research.datasets)),
        STRATEGY: dg.StaticPartitionsDefinition(list(research.strategies)),
    })


def partition_key(dataset: str, strategy: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({DATASET: dataset, STRATEGY: strategy})


def study_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext
             ) -> tuple[str, str]:
    """(dataset, strategy) of the partition being materialised."""
    key = context.partition_key
    if not isinstance(key, dg.MultiPartitionKey):
        raise ValueError(f"research assets need a (dataset, strategy) partition, got {key!r}")
    dims = key.keys_by_dimension
    return dims[DATASET], dims[STRATEGY]
