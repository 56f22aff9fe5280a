"""Transaction cost analysis of the live journal: :func:`live.tca.extract.tca_tables` is the
API (per child order, per parent, per day); :mod:`live.tca.report` renders it."""
