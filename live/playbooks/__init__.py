"""Incident playbooks: ``playbooks.yaml`` maps alert codes to remediations (pause, reduce,
flatten, reroute, page), each rate limited and run automatically or only on a signed
confirmation. :mod:`~live.playbooks.spec` loads and validates the file,
:mod:`~live.playbooks.engine` decides what an alert calls for; the runner's
:mod:`~live.runner.remediation` room carries it out through the kill switch."""
