"""The reviewed ``compliance.yaml`` (order-to-trade ratio, self-trade prevention, SEBI's algo
framework) and the static egress IP check. The pre-trade controls it configures are
:mod:`live.risk.compliance_controls`; the order flow they count is :mod:`live.order_flow`.
Kept apart from :mod:`live.compliance` (surveillance, reports, retention, which sign through
the governance keys) because the governance service itself loads these rules."""
