"""A vocabulary fixed by its encoding's settings: the same token ids for every genre, collection and corpus.

The data-built vocabulary (jukebox.dataset.Vocabulary) numbers tokens by how often a genre's pieces use them, so
two genres share no ids. A FixedVocabulary is computed from settings alone (an encoding's pitch range, grids,
programs, drum keys), saved once as JSON with those settings, and loaded with a model: two files made with the
same settings are byte-identical, whichever pieces were around (docs/design/vocabulary.md).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

FORMAT = 1  # raise when the file's shape changes


class VocabularyError(ValueError):
    """A vocabulary file cannot be read, or does not match the settings it claims; the message names the file."""


class FixedVocabulary:
    """Tokens by id, with the encoding name and settings that made them; equal when their files are byte-identical."""

    def __init__(self, encoding: str, settings: dict, tokens: Sequence[str]):
        self.encoding = encoding
        self.settings = dict(settings)
        self.tokens = list(tokens)
        self._index = {t: i for i, t in enumerate(self.tokens)}
        if len(self._index) != len(self.tokens):
            raise VocabularyError(f"encoding {encoding}: its tokens repeat; a vocabulary names each token once")

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other) -> bool:
        return isinstance(other, FixedVocabulary) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    def id(self, token: str) -> int:
        """The id of a token; KeyError naming the token and the encoding when it has none."""
        try:
            return self._index[token]
        except KeyError:
            raise KeyError(f"token {token!r} is not in the {self.encoding} vocabulary ({len(self)} tokens)") from None

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        """Ids of tokens as an int32 array (the form the sequences stage writes); KeyError on a token outside."""
        return np.array([self.id(t) for t in tokens], dtype=np.int32)

    def decode(self, ids: Sequence[int]) -> list[str]:
        """The tokens of ids."""
        return [self.tokens[int(i)] for i in ids]

    def to_json(self) -> str:
        """The file's text: sorted keys, one fixed layout, so equal vocabularies are equal bytes."""
        data = {"format": FORMAT, "encoding": self.encoding, "settings": self.settings, "tokens": self.tokens}
        return json.dumps(data, sort_keys=True, indent=1, ensure_ascii=True) + "\n"

    def save(self, path: str | Path) -> None:
        """Write the vocabulary with its settings as JSON, atomically."""
        from .artifacts import write_text

        write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "FixedVocabulary":
        """Read a vocabulary file; VocabularyError naming the file when it is not one."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise VocabularyError(f"{path}: not a readable vocabulary file ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("tokens"), list) \
                or not isinstance(data.get("settings"), dict) or not isinstance(data.get("encoding"), str):
            raise VocabularyError(f"{path}: not a vocabulary file of format {FORMAT} (encoding, settings, tokens); "
                                  "write it again with the sequences stage")
        if not all(isinstance(t, str) for t in data["tokens"]):
            raise VocabularyError(f"{path}: its tokens must all be strings")
        return cls(data["encoding"], data["settings"], data["tokens"])
