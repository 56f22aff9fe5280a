"""Governance: identities and signatures, policy, maker/checker promotion, audit trail."""
