"""Hashed character n-grams: language-independent features for the learned heads.

The shipped encoder is English; for Spanish, French, German, Portuguese and Italian the learned heads
also read character 2-4-grams of the words, which carry stems such as "contraseñ", "rembours",
"Störung" whatever the encoder makes of them. Hashing keeps the feature count fixed with no vocabulary
file; the same function runs in training and at run time.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from classifiers.runtime import FloatArray, normalise_text

DIM = 1 << 15
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", normalise_text(text)).lower()
    return _WORD.findall(text)[:200]


def ngram_rows(texts: Sequence[str], dim: int = DIM) -> list[tuple[npt.NDArray[np.int64], FloatArray]]:
    """Per text, the non-zero columns and values of its L2-normalised, log-scaled hashed n-gram counts.

    Words are padded with spaces; each gives its 2-, 3- and 4-grams and itself. A text has a few
    hundred of the ``dim`` columns, so callers gather weight rows rather than build dense rows.
    """
    rows: list[tuple[npt.NDArray[np.int64], FloatArray]] = []
    for text in texts:
        counts: dict[int, int] = {}
        for word in _words(text):
            padded = f" {word} "
            for n in (2, 3, 4):
                for i in range(len(padded) - n + 1):
                    h = zlib.crc32(padded[i : i + n].encode("utf-8")) % dim
                    counts[h] = counts.get(h, 0) + 1
            # The whole word too: short function words ("no", "nie", "pas") matter for polarity.
            h = zlib.crc32(padded.encode("utf-8")) % dim
            counts[h] = counts.get(h, 0) + 1
        idx = np.fromiter(counts.keys(), np.int64, len(counts))
        val = np.log1p(np.fromiter(counts.values(), np.float32, len(counts)))
        rows.append((idx, (val / np.linalg.norm(val)).astype(np.float32) if counts else val))
    return rows
