"""The canonical skops archive: one fitted estimator, one byte string; it loads back to
the same predictions; a foreign archive is refused."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier

from strategies.skops_bytes import SkopsArchiveError, canonical_skops


def _fitted() -> tuple[HistGradientBoostingClassifier, np.ndarray]:
    x = np.random.default_rng(7).normal(size=(200, 3))
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).astype(int)
    return HistGradientBoostingClassifier(random_state=0, max_iter=20).fit(x, y), x


def test_canonical_skops_of_two_identical_fits_is_byte_identical() -> None:
    first, _ = _fitted()
    second, _ = _fitted()
    assert sio.dumps(first) != sio.dumps(second)  # skops names arrays after id()
    assert canonical_skops(sio.dumps(first)) == canonical_skops(sio.dumps(second))


def test_canonical_skops_loads_to_the_same_predictions() -> None:
    model, x = _fitted()
    data = canonical_skops(sio.dumps(model))
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_canonical_skops_refuses_an_archive_without_a_schema() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("1.npy", b"x")
    with pytest.raises(SkopsArchiveError, match="not a skops archive"):
        canonical_skops(out.getvalue())
