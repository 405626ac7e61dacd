"""The base model: music from many sources, kept clear of every genre's validation pieces, tokenized with the fixed
vocabulary, and a transformer trained on it that the genres fine-tune (stages/pretrain.py, `init: base`).

No leakage: a piece of the corpus whose notes are those of a genre's validation piece (whatever its file name, and
in any key), or another version of its tune, is left out, so a fine-tuned genre's validation loss and evaluate's
figures stay honest. Pieces are compared by `piece_keys`: `note_key`, a hash of the piece's onsets, durations and
pitches on the encoding's grid, relative to its first onset and its lowest pitch, and a hash of its melody's opening
12 intervals (`dataset.melody_key`, the rule by which a genre's split keeps the versions of one tune together).
"""
from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from .artifacts import atomic_path, read_jsonl, sha256, write_json
from .dataset import UNKNOWN, Vocabulary, melody_key, split_pieces
from .encodings import get_encoding, quantize
from .encodings.fixed import outside_grid
from .layout import Layout
from .model import ModelConfig, save_model
from .params import CorpusSource, ParamError, Params
from .sources import MIDI_SUFFIXES, choose, export_corpus
from .vocabulary import FixedVocabulary, VocabularyError

log = logging.getLogger(__name__)


class BaseModelError(ValueError):
    """The base model is missing, or does not fit the genre that would start from it; the message says the fix."""


# --- the corpus ----------------------------------------------------------------------------------------------

def corpus_files(sources: Sequence[CorpusSource], layout: Layout, seed: int, jobs: int = 1) -> list[Path]:
    """The MIDI files of every source of the corpus table: music21 collections exported once (kept in
    layout.pretrain_exports, so a rerun reads them back), local folders read recursively; a seeded choice of
    `max_pieces` from each."""
    files: list[Path] = []
    for i, source in enumerate(sources):
        if source.corpus:
            folder = layout.pretrain_exports / f"{source.corpus}-{source.max_pieces}-{seed}"
            manifest = folder / "manifest.json"
            if manifest.is_file():
                records = json.loads(manifest.read_text())
            else:
                records = export_corpus(source.corpus, folder, source.max_pieces, seed, jobs)
                write_json(manifest, records)  # last: a manifest means every file it names was written
            found = [folder / r["file"] for r in records if r["status"] == "kept"]
        else:
            folder = Path(source.folder)
            if not folder.is_dir():
                raise ParamError(f"pretrain.sources[{i}].folder = {source.folder!r} is not a folder; it must be a "
                                 "folder of .mid files (absolute, or relative to the project)")
            found = choose(sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES),
                           source.max_pieces, seed)
        log.info("pretrain corpus: %s gives %d MIDI files", source.name, len(found))
        files += found
    return files


def note_key(notes: Sequence[Sequence[float]]) -> str:
    """A hash of a piece's notes on the encoding's grid, relative to its first onset and its lowest pitch: the same
    for the same tune exported twice, renamed or transposed; '' for a piece without notes."""
    grid = quantize((float(on), float(dur), int(p)) for on, dur, p in notes)
    if not grid:
        return ""
    start, low = grid[0][0], min(p for _, _, p in grid)
    return sha256(";".join(f"{on - start:g},{dur:g},{p - low}" for on, dur, p in grid).encode())


def piece_keys(notes: Sequence[Sequence[float]]) -> list[str]:
    """The keys a piece is known by: its note_key, and a hash of its melody's opening (when it has 12 intervals),
    which two versions of one tune share (O'Neill's and Ryan's settings of a reel, two harmonizations of a chorale)."""
    keys = [note_key(notes)] if notes else []
    melody = melody_key(notes)
    if len(melody) == 12:
        keys.append(sha256(("melody:" + ",".join(map(str, melody))).encode()))
    return keys


def held_out_keys(layout: Layout, genres: Sequence[str]) -> dict[str, str]:
    """Every key (piece_keys) of every validation piece of the genres -> `genre/piece` (data/sequences/<g>/split.json)."""
    keys = {}
    for genre in genres:
        split = layout.sequences(genre) / "split.json"
        if not split.is_file() or not layout.pieces(genre).is_file():
            raise FileNotFoundError(f"{split}: genre {genre}'s validation split is needed to keep its pieces out of "
                                    f"the base corpus; run `dvc repro sequences@{genre}` first")
        validation = set(json.loads(split.read_text())["validation"])
        for record in read_jsonl(layout.pieces(genre)):
            if record["piece"] in validation:
                for key in piece_keys(record["notes"]):
                    keys.setdefault(key, f"{genre}/{record['piece']}")
    keys.pop("", None)
    return keys


KEY_CHARS = 16  # 64 bits of a note_key tell 14,000 pieces apart, in a quarter of the file


def corpus_keys(records: Sequence[dict]) -> list[str]:
    """The distinct note_key prefixes of the pieces the base learns from, sorted (models/_base/corpus_keys.json)."""
    return sorted({key[:KEY_CHARS] for r in records for key in piece_keys(r["notes"])} - {""})


def validation_in_base(layout: Layout, genre: str) -> list[str] | None:
    """The genre's validation pieces whose notes the base learned from (they flatter its figures); None for a base
    saved without corpus_keys.json."""
    path = layout.base_model / "corpus_keys.json"
    if not path.is_file():
        return None
    learnt = set(json.loads(path.read_text()))
    return sorted({piece for key, piece in held_out_keys(layout, [genre]).items() if key[:KEY_CHARS] in learnt})


def without_held_out(records: Sequence[dict], held_out: dict[str, str]) -> tuple[list[dict], list[dict]]:
    """The corpus records that are no genre's validation piece nor a version of its tune, and the excluded ones
    (piece and match)."""
    kept, excluded = [], []
    for record in records:
        match = next((held_out[key] for key in piece_keys(record["notes"]) if key in held_out), None)
        if match is None:
            kept.append(record)
        else:
            excluded.append({"piece": record["piece"], "same_notes_as": match})
    return kept, excluded


# --- tokens --------------------------------------------------------------------------------------------------

def corpus_tokens(records: Sequence[dict], vocabulary: FixedVocabulary, params: Params
                  ) -> tuple[np.ndarray, np.ndarray, Vocabulary, dict]:
    """Train and validation id arrays of the corpus (split by tune, each piece closed by END), the vocabulary in the
    shape the train stage reads, and the counts of tokens outside the grid (stored as `<unk>`)."""
    encoding = get_encoding(vocabulary.encoding)
    # A record parsed with its tracks (a source with instruments: keep) keeps them, as a genre's sequences do.
    tokens = [encoding.encode_record(r, params.key_mode)[0] + [encoding.end] for r in records]
    train_idx, val_idx = split_pieces(len(tokens), params.pretrain.val_fraction, params.seed,
                                      [melody_key(r["notes"]) for r in records])
    known = set(vocabulary.tokens)  # a token outside the grid counts as <unk>, as the arrays store it
    counts = Counter(t if t in known else UNKNOWN for i in train_idx for t in tokens[i])
    vocab = Vocabulary(tuple(vocabulary.tokens), tuple(counts[t] for t in vocabulary.tokens))
    train = np.concatenate([vocab.ids(tokens[i]) for i in train_idx])
    val = np.concatenate([vocab.ids(tokens[i]) for i in val_idx])
    return train, val, vocab, outside_grid(tokens, vocabulary, vocabulary.encoding)


# --- the model -----------------------------------------------------------------------------------------------

def base_params(params: Params) -> Params:
    """The pipeline's parameters as the base is trained with them: the transformer at `pretrain.size`, the
    pretrain section's schedule and strategy. Its pieces move by any interval: a corpus of many collections has no
    one genre's keys, and the shipped base learnt every key so."""
    layers, units, heads = params.pretrain.shape
    p = params.pretrain
    return dataclasses.replace(params, architecture="transformer", layers=layers, units=units, heads=heads,
                               epochs=p.epochs, windows_per_epoch=p.windows_per_epoch, learning_rate=p.learning_rate,
                               batch_size=p.batch_size, strategy=p.strategy, transpose_into="any")


def save_base(folder: Path, model, config: ModelConfig, vocabulary: FixedVocabulary, vocab: Vocabulary,
              keys: Sequence[str]) -> None:
    """Write the base: its vocabulary, ModelConfig and the keys of the pieces it learned from, then (last) its
    every-position model."""
    vocabulary.save(folder / "vocabulary.json")
    write_json(folder / "corpus_keys.json", list(keys))
    write_json(folder / "vocab.json", {"encoding": vocabulary.encoding, **vocab.to_json()})
    config.save(folder / "config.json")
    import keras

    with atomic_path(folder / "model.keras", suffix=".keras") as tmp:
        # Without the optimizer's state (twice the weights again: 12 MB, not 4), which a genre never reads: it
        # compiles a fresh optimizer to fine-tune. save_model's bytes change only when the weights do.
        save_model(keras.Model(model.inputs, model.outputs, name=model.name), tmp)


def read_base(folder: Path) -> tuple[ModelConfig, FixedVocabulary]:
    """The base's ModelConfig and vocabulary; BaseModelError saying how to make one when there is none."""
    if not (folder / "model.keras").is_file():
        raise BaseModelError(f"{folder}: no base model (model.keras) to start from; set pretrain's sources and run "
                             "`dvc unfreeze pretrain && dvc repro -S init=base pretrain && dvc freeze pretrain`, or set init: scratch")
    try:
        return ModelConfig.load(folder / "config.json"), FixedVocabulary.load(folder / "vocabulary.json")
    except (OSError, ValueError) as exc:
        raise BaseModelError(f"{folder}: the base model's files cannot be read ({exc}); rebuild it: `dvc unfreeze pretrain && dvc repro pretrain && dvc freeze pretrain`")


def check_vocabulary(base: FixedVocabulary, genre_file: Path, genre: str, base_folder: Path) -> None:
    """A genre starts from the base only with the base's vocabulary, or one that begins with it (the same encoding
    and settings, tokens added at the end: instruments, after the base was made); BaseModelError naming both and
    the fix otherwise."""
    try:
        theirs = FixedVocabulary.load(genre_file)
    except VocabularyError:
        theirs = None
    if theirs is None or not extends(theirs, base):
        what = (f"{genre_file} ({theirs.encoding}, {len(theirs)} tokens)" if theirs is not None
                else f"its data-built vocabulary (no {genre_file})")
        raise BaseModelError(f"genre {genre} cannot start from the base: its vocabulary, {what}, is not the base's "
                             f"{base_folder / 'vocabulary.json'} ({base.encoding}, {len(base)} tokens); set "
                             f"vocabulary: fixed and encoding: {base.encoding} and rerun `dvc repro sequences@{genre}`, "
                             "or init: scratch")


def extends(vocabulary: FixedVocabulary, base: FixedVocabulary) -> bool:
    """Whether `vocabulary` is `base` with tokens added at the end: same encoding, every setting of the base's the
    same, the base's tokens first with the same ids."""
    return (vocabulary.encoding == base.encoding and vocabulary.tokens[:len(base)] == base.tokens
            and all(vocabulary.settings.get(k) == v for k, v in base.settings.items()))


def grown(weights: list[np.ndarray], sizes: list[tuple], vocab_size: int) -> list[np.ndarray]:
    """The base's weights for a vocabulary grown to `vocab_size` at its end (extends): a new token's embedding is
    the mean of the base's, its output column zero and its bias the base's lowest, so it starts as unlikely as the
    base's rarest token and the odds between the base's own tokens stay as they were. Arrays of another shape are
    left alone."""
    out = []
    for weight, size in zip(weights, sizes):
        differ = [i for i, (a, b) in enumerate(zip(weight.shape, size)) if a != b]
        if weight.ndim != len(size) or len(differ) != 1 or not weight.shape[differ[0]] < size[differ[0]] == vocab_size:
            out.append(weight)  # the same shape, or another model altogether (the caller names it)
            continue
        axis = differ[0]
        missing = list(size)
        missing[axis] = vocab_size - weight.shape[axis]
        if weight.ndim == 1:  # the output bias
            extra = np.full(missing, weight.min(), weight.dtype)
        elif axis == 0:  # the token embedding
            extra = np.broadcast_to(weight.mean(axis=0, keepdims=True), missing).astype(weight.dtype)
        else:  # the output kernel
            extra = np.zeros(missing, weight.dtype)
        out.append(np.concatenate([weight, extra], axis=axis))
    return out


def finetune_params(params: Params, base: ModelConfig, train_tokens: int, val_tokens: int) -> Params:
    """A genre's parameters (`Params.for_genre`) when it fine-tunes the base: the base's shape, finetune_learning_rate
    and finetune_epochs as its rate and epochs, and epochs sized to the genre's data.

    A fine-tuning epoch is at most one pass over the training tokens (in whole batches), and validation reads at most one window per
    8 validation tokens: a 20-file collection then checks its validation loss after every few seconds of learning,
    and stops as soon as it begins to learn its pieces by heart, where the genres' 1,536-window epochs would each
    learn those pieces 40 times over before the first check. The warm-up lasts at most a tenth of the run: a
    20-file upload's 96 steps would otherwise spend all but a few at a rising rate (the default genres' runs of
    1,010 to 1,620 steps keep warmup_steps).
    """
    batches = max(1, -(-train_tokens // (params.seq_len * params.batch_size)))
    one_pass = batches * params.batch_size  # whole batches: every step of an epoch the same size
    windows, epochs = min(params.windows_per_epoch, one_pass), params.finetune_epochs
    steps = epochs * -(-windows // params.batch_size)
    return dataclasses.replace(params, architecture=base.architecture, layers=base.layers, units=base.units,
                               heads=base.heads, token_conv=base.token_conv, embedding_dim=base.embedding_dim,
                               learning_rate=params.finetune_learning_rate, epochs=epochs,
                               warmup_steps=min(params.warmup_steps, max(1, steps // 10)), windows_per_epoch=windows,
                               val_windows=min(params.val_windows, max(1, val_tokens // 8)))


def start_from_base(model, config: ModelConfig, folder: Path, freeze: int) -> None:
    """Load the base's weights into a genre's freshly built model of the same shape, freeze the token embedding
    and the lowest `freeze - 1` blocks when `freeze` >= 1, and compile it again (a fresh optimizer)."""
    import keras

    from .model import compile_model, llama_block

    llama_block()  # registered, so the base loads in safe mode
    base = keras.saving.load_model(folder / "model.keras", compile=False)
    vocab_size = model.output_shape[-1]
    weights = grown(base.get_weights(), [w.shape for w in model.get_weights()], vocab_size)
    if [w.shape for w in weights] != [tuple(w.shape) for w in model.get_weights()]:
        raise BaseModelError(f"{folder / 'model.keras'}: its layers do not match the genre's model built from "
                             f"{folder / 'config.json'}; rebuild it: `dvc unfreeze pretrain && dvc repro pretrain && dvc freeze pretrain`")
    model.set_weights(weights)
    if freeze:
        frozen = {"token_embedding", "token_conv", *(f"transformer_layer_{i}" for i in range(freeze - 1))}
        for layer in model.layers:
            if layer.name in frozen:
                layer.trainable = False
    compile_model(model, config)
