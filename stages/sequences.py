"""Stage sequences: tokens per piece, the vocabulary, and train/validation token arrays split by piece."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np

from jukebox.bars import piece_notes
from jukebox.artifacts import read_jsonl, stage_logger, write_json, write_npy
from jukebox.dataset import UNKNOWN, Vocabulary, melody_key, split_pieces
from jukebox.encodings import get_encoding
from jukebox.encodings.fixed import fixed_vocabulary, outside_grid
from jukebox.entrypoint import run_stage
from jukebox.layout import Layout
from jukebox.params import ParamError, load_params


def main(genre_name: str) -> None:
    params = load_params()
    genre = params.genre(genre_name)
    log = stage_logger("sequences", genre.name)
    layout = Layout.of()
    notes_dir = layout.notes(genre.name)
    pieces = read_jsonl(notes_dir / "pieces.jsonl")
    parsed = json.loads((notes_dir / "summary.json").read_text())
    encoding = get_encoding(params.encoding)
    train_idx, val_idx = split_pieces(len(pieces), params.val_fraction, params.seed,
                                      [melody_key(p["notes"]) for p in pieces])
    fixed = None
    # Every piece through the encoding, each closed by its end token: the model learns where a piece ends and the next, in its
    # own key, begins. A multi-track encoding writes a record's tracks with their instruments (instruments: keep).
    encoded = [encoding.encode_record(p, params.key_mode) for p in pieces]
    tokens = [piece + [encoding.end] for piece, _ in encoded]
    if params.encoding == "remi_plus" or params.vocabulary == "fixed":
        # Every token of the encoding's grid, numbered from its settings: the same ids for every genre and the base.
        fixed = fixed_vocabulary(params.encoding)
        outside = sum((counts for _, counts in encoded), Counter()) + Counter(outside_grid(tokens, fixed,
                                                                                          params.encoding))
        known = set(fixed.tokens)  # a token outside the grid counts as <unk>, as the arrays store it
        seen = Counter(t if t in known else UNKNOWN for i in train_idx for t in tokens[i])
        vocab = Vocabulary(tuple(fixed.tokens), tuple(seen[t] for t in fixed.tokens))
        log.info("fixed %s vocabulary: outside the grid (counted, see data.json; <unk> in the arrays): %s",
                 params.encoding, dict(outside) or "nothing")
    else:
        # A vocabulary for the moves `transpose` makes in training: without them most windows could not move.
        vocab = Vocabulary.build([tokens[i] for i in train_idx], params.min_count, params.transpose,
                                 encoding.transpose)
    # Pieces are concatenated per split, as in 2018; no window ever mixes training and validation notes.
    train = np.concatenate([vocab.ids(tokens[i]) for i in train_idx])
    val = np.concatenate([vocab.ids(tokens[i]) for i in val_idx])
    # The shorter split limits seq_len: a window and the token after it must fit in each.
    split, array, n_pieces, more = min((("training", train, len(train_idx), "add pieces (max_pieces)"),
                                        ("validation", val, len(val_idx), "raise val_fraction or add pieces")),
                                       key=lambda s: len(s[1]))
    if len(array) <= params.seq_len:
        raise ParamError(f"seq_len = {params.seq_len} is too long for genre {genre.name}: its {split} split has "
                         f"{len(array)} tokens ({n_pieces} pieces), and a window needs seq_len + 1; seq_len must be "
                         f"from 1 to {len(array) - 1} here, or {more}")
    out = layout.sequences(genre.name)
    write_npy(out / "train.npy", train)
    write_npy(out / "val.npy", val)
    # key_mode travels with the vocabulary: a primer must be moved to C as the training pieces were.
    write_json(out / "vocab.json", {"encoding": params.encoding, "key_mode": params.key_mode, **vocab.to_json()})
    if fixed is not None:  # the encoding's own file: byte-identical for every genre with the same settings
        fixed.save(Layout.of().vocabulary(genre.name))
    # Keys as the model learns the pieces (C major / A minor under key_mode c), for transpose_into genre_keys.
    write_json(out / "split.json", {"train": [pieces[i]["piece"] for i in train_idx],
                                    "validation": [pieces[i]["piece"] for i in val_idx],
                                    "train_keys": [piece_notes(pieces[i], params.key_mode)[1] for i in train_idx]})
    # The 2018 talk's dataset table, plus the split.
    stats = {
        "files": parsed["files"],
        "skipped_files": parsed["skipped_files"],
        "notes": parsed["notes"],
        "unique_notes": len(vocab) - 1,
        "train_pieces": len(train_idx),
        "val_pieces": len(val_idx),
        "train_tokens": int(len(train)),
        "val_tokens": int(len(val)),
        "val_unknown_tokens": int((val == 0).sum()),
    }
    if fixed is not None:
        stats["outside_grid"] = dict(sorted(outside.items()))
    write_json(layout.metrics(genre.name) / "data.json", stats)
    log.info("%s encoding: vocabulary %d tokens (min_count %d: %d training tokens are <unk>); %d train / %d "
             "validation tokens", params.encoding, len(vocab), params.min_count, vocab.counts[0], len(train), len(val))


if __name__ == "__main__":
    run_stage("sequences", main)
