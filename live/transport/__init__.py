"""Bus transports beyond the in-process default: NATS JetStream (:mod:`.jetstream`), its
subjects and streams declared in one place (:mod:`.subjects`), per-publisher sequencing
(:mod:`.sequencing`) and the wire form of an envelope (:mod:`.wire`)."""
