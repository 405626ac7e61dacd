"""The one typed loader for params.yaml: every stage, the CLI and the app read parameters here."""
from __future__ import annotations

import dataclasses
import re
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SOURCES = ("corpus", "local", "web", "urls")
SITES = ("tadpoletunes", "midiworld")
ENCODINGS = ("pitch", "rhythm", "remi", "remi_plus")  # jukebox.encodings.get_encoding knows each
INSTRUMENTS = ("merge", "keep")
KEYS = ("keep", "c")
TRANSPOSE_INTO = ("any", "genre_keys")
ARCHITECTURES = ("bilstm", "lstm", "gru", "transformer")
OPTIMIZERS = ("rmsprop", "adam", "adamw")
PRECISIONS = ("float32", "mixed_bfloat16")
STRATEGIES = ("single", "mirrored", "multi_worker")
VOCABULARIES = ("data", "fixed")
INITS = ("scratch", "base")
# The base model's sizes (docs/guide/pretraining.md): layers, units, heads. `cpu` is the genres' default transformer,
# so a genre fine-tunes it at the size it trains today; `gpu` is for a machine with an accelerator.
BASE_SIZES = {"cpu": (2, 128, 2), "gpu": (6, 512, 8)}
# \A and \Z, not ^ and $: `$` also matches before a trailing newline, and "folk\n" must not pass for "folk".
# Checked with fullmatch everywhere; the anchors keep a caller using match (WTForms' Regexp) just as strict.
GENRE_NAME = re.compile(r"\A[a-z][a-z0-9_-]{0,31}\Z")


def is_genre_name(name: object) -> bool:
    """True for a genre slug: a lowercase letter, then up to 31 lowercase letters, digits, - or _ (nothing else)."""
    return isinstance(name, str) and GENRE_NAME.fullmatch(name) is not None
# Genres made by the web app live in this file beside params.yaml (dvc.yaml reads it through `vars`, and DVC
# merges its `genres` with params.yaml's), so the app never rewrites the user's params.yaml.
APP_GENRES = "app_genres.yaml"


class ParamError(ValueError):
    """A parameter is missing, unknown or out of range; the message names the key and the allowed values."""


@dataclass(frozen=True)
class Genre:
    """Where one genre's MIDI files come from."""

    name: str
    source: str
    collection: str = ""  # music21 corpus folder, for source `corpus`
    path: str = ""  # folder of MIDI files, for source `local`
    max_pieces: int = 0  # 0 keeps every piece; otherwise a seeded choice of this many (web: the first this many)
    site: str = ""  # tadpoletunes or midiworld, for source `web`
    listing: tuple[str, ...] = ()  # listing page URLs, for source `web`
    urls_file: str = ""  # text file of MIDI URLs, one a line, for source `urls`
    program: int = 0  # General MIDI program its samples are played with (0 = piano)
    bpm: float = 120.0  # tempo of its samples, quarter notes per minute
    instruments: str = "merge"  # merge: every part one stream (played on `program`); keep: each note keeps its track's
    max_tracks: int = 16  # with instruments keep: the tracks with the most notes are kept, the rest counted
    drums: bool = True  # with instruments keep: whether the drum track (channel 10) is kept
    finetune_epochs: int = 0  # init base: this genre's epochs of fine-tuning; 0 = params.yaml's finetune_epochs
    finetune_learning_rate: float = 0.0  # init base: this genre's peak fine-tuning rate; 0 = params.yaml's
    transpose_into: str = ""  # this genre's transpose_into; "" = params.yaml's


@dataclass(frozen=True)
class CorpusSource:
    """One source of the base model's corpus: a music21 corpus collection or a local folder of MIDI files."""

    corpus: str = ""  # music21 corpus folder (essenFolksong, oneills1850, bach, palestrina, ...)
    folder: str = ""  # a folder of .mid/.midi files, read recursively
    max_pieces: int = 0  # 0 keeps every piece; otherwise a seeded choice of this many
    instruments: str = "merge"  # keep: each part its own instrument (a genre's `instruments`), for many-part music

    @property
    def name(self) -> str:
        return f"corpus:{self.corpus}" if self.corpus else f"folder:{self.folder}"


@dataclass(frozen=True)
class Pretrain:
    """The `pretrain:` section: the base model's corpus, size and schedule (stages/pretrain.py)."""

    sources: tuple[CorpusSource, ...] = ()
    size: str = "cpu"
    epochs: int = 10
    windows_per_epoch: int = 8192
    learning_rate: float = 0.003
    batch_size: int = 8
    val_fraction: float = 0.05
    strategy: str = "single"

    @property
    def shape(self) -> tuple[int, int, int]:
        """Layers, units and heads of the base transformer at this size."""
        return BASE_SIZES[self.size]


@dataclass(frozen=True)
class Params:
    """All pipeline parameters, validated."""

    seed: int = 42
    seq_len: int = 200
    val_fraction: float = 0.1
    encoding: str = "rhythm"
    key_mode: str = "keep"  # c: every piece in C major / A minor before it is tokenized
    min_count: int = 1
    architecture: str = "bilstm"
    layers: int = 1
    embedding_dim: int = 32
    units: int = 64
    heads: int = 4
    token_conv: int = 0
    dropout: float = 0.5
    optimizer: str = "rmsprop"
    learning_rate: float = 0.001
    warmup_steps: int = 0
    transpose: int = 0
    transpose_into: str = "any"
    precision: str = "float32"
    batch_size: int = 128
    epochs: int = 12
    windows_per_epoch: int = 8192
    val_windows: int = 2048
    patience: int = 3
    n_notes: int = 500
    n_samples: int = 3
    eval_samples: int = 0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    step: float = 0.5
    listen_pairs: int = 12
    listen_bars: int = 8
    jobs: int = 0
    parse_timeout: float = 120.0
    strategy: str = "single"
    request_delay: float = 1.0
    max_bytes: int = 2_000_000
    upload_max_files: int = 200
    upload_max_bytes: int = 50_000_000
    upload_max_ratio: int = 100
    generate_max_notes: int = 2000
    primer_timeout: float = 10.0
    compose_timeout: float = 300.0
    samples_max_mb: int = 1000
    # Absent keys mean a genre's own vocabulary and training from scratch, which need no base model; the committed
    # params.yaml sets fixed and base.
    vocabulary: str = "data"  # data: tokens seen min_count times (per genre); fixed: every token the encoding's grid has
    init: str = "scratch"  # base: a genre starts from models/_base (fine-tuning), scratch: from random weights
    finetune_learning_rate: float = 0.001
    finetune_epochs: int = 10
    upload_finetune_epochs: int = 4  # init base: the finetune_epochs the web app writes into an upload's genre entry
    upload_finetune_learning_rate: float = 0.002  # init base: and the finetune_learning_rate
    finetune_freeze: int = 0  # 0 trains every layer; k >= 1 freezes the token embedding and the lowest k - 1 blocks
    pretrain: Pretrain = field(default_factory=Pretrain)
    genres: dict[str, Genre] = field(default_factory=dict)
    genres_2018: dict[str, Genre] = field(default_factory=dict)  # the 2018 talk's web table; see README

    def genre(self, name: str) -> Genre:
        """The genre called `name`, or a ParamError listing the known ones."""
        if name not in self.genres:
            raise ParamError(f"unknown genre {name!r}: params.yaml `genres` has {sorted(self.genres)}")
        return self.genres[name]

    def for_genre(self, genre: Genre) -> Params:
        """These parameters as `genre` trains: its own transpose_into, finetune_epochs and finetune_learning_rate,
        where it sets them, over params.yaml's."""
        return dataclasses.replace(
            self, transpose_into=genre.transpose_into or self.transpose_into,
            finetune_epochs=genre.finetune_epochs or self.finetune_epochs,
            finetune_learning_rate=genre.finetune_learning_rate or self.finetune_learning_rate)

    def epochs_of(self, genre: Genre | None) -> int:
        """The epochs `genre` trains for: its finetune_epochs under init base, else `epochs`."""
        own = self.for_genre(genre) if genre else self
        return own.finetune_epochs if self.init == "base" else self.epochs


# key -> (type, check, description of the allowed range)
_RULES: dict[str, tuple[type, Any, str]] = {
    "seed": (int, lambda v: v >= 0, "an integer >= 0"),
    "seq_len": (int, lambda v: 1 <= v <= 10_000, "an integer from 1 to 10000"),
    "val_fraction": (float, lambda v: 0 < v < 1, "a number between 0 and 1 (exclusive)"),
    "encoding": (str, lambda v: v in ENCODINGS, f"one of {ENCODINGS}"),
    "key_mode": (str, lambda v: v in KEYS, f"one of {KEYS} (c moves every piece to C major or A minor)"),
    "min_count": (int, lambda v: v >= 1, "an integer >= 1 (rarer tokens become the unknown token)"),
    "architecture": (str, lambda v: v in ARCHITECTURES, f"one of {ARCHITECTURES}"),
    "layers": (int, lambda v: 1 <= v <= 8, "an integer from 1 to 8 (stacked recurrent or transformer layers)"),
    "heads": (int, lambda v: 1 <= v <= 64, "an integer from 1 to 64 dividing units (transformer attention heads)"),
    "token_conv": (int, lambda v: 0 <= v <= 16, "an integer from 0 to 16 (tokens a transformer's embedding mixes "
                   "in before attention; 0 = off)"),
    "optimizer": (str, lambda v: v in OPTIMIZERS, f"one of {OPTIMIZERS}"),
    "warmup_steps": (int, lambda v: v >= 0, "an integer >= 0 (adam/adamw warm-up steps; 0 = none)"),
    "transpose": (int, lambda v: 0 <= v <= 11, "an integer from 0 to 11 (semitones up or down; 0 = off)"),
    "transpose_into": (str, lambda v: v in TRANSPOSE_INTO, f"one of {TRANSPOSE_INTO} (genre_keys: a piece moves "
                       "into the keys the genre's pieces are in, as often as they are)"),
    "precision": (str, lambda v: v in PRECISIONS, f"one of {PRECISIONS}"),
    "embedding_dim": (int, lambda v: v >= 1, "an integer >= 1"),
    "units": (int, lambda v: v >= 1, "an integer >= 1"),
    "dropout": (float, lambda v: 0 <= v < 1, "a number from 0 up to (not including) 1"),
    "learning_rate": (float, lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "batch_size": (int, lambda v: v >= 1, "an integer >= 1"),
    "epochs": (int, lambda v: v >= 1, "an integer >= 1"),
    "windows_per_epoch": (int, lambda v: v >= 1, "an integer >= 1"),
    "val_windows": (int, lambda v: v >= 1, "an integer >= 1"),
    "patience": (int, lambda v: v >= 1, "an integer >= 1"),
    "n_notes": (int, lambda v: v >= 1, "an integer >= 1"),
    "n_samples": (int, lambda v: v >= 1, "an integer >= 1"),
    "eval_samples": (int, lambda v: 0 <= v <= 256, "an integer from 0 to 256 (pieces evaluate judges; at least n_samples)"),
    "temperature": (float, lambda v: v >= 0, "a number >= 0 (0 picks the most likely note)"),
    "top_k": (int, lambda v: v >= 0, "an integer >= 0 (0 = no top-k filter)"),
    "top_p": (float, lambda v: 0 < v <= 1, "a number in (0, 1] (1 = no nucleus filter)"),
    "step": (float, lambda v: v > 0, "a number of quarter notes > 0"),
    "listen_pairs": (int, lambda v: 1 <= v <= 500, "an integer from 1 to 500 (excerpt pairs of the listening test)"),
    "listen_bars": (int, lambda v: 1 <= v <= 64, "an integer from 1 to 64 (bars in each listening-test excerpt)"),
    "jobs": (int, lambda v: v >= 0, "an integer >= 0 (0 uses every core)"),
    "parse_timeout": (float, lambda v: 0 < v <= 86_400, "seconds from 0 (exclusive) to 86400 per MIDI file"),
    "strategy": (str, lambda v: v in STRATEGIES, f"one of {STRATEGIES}"),
    "request_delay": (float, lambda v: 0 <= v <= 60, "seconds from 0 to 60 (keep >= 1 for real web sites)"),
    "max_bytes": (int, lambda v: 1_000 <= v <= 1_000_000_000, "an integer from 1000 to 1000000000 (bytes)"),
    "upload_max_files": (int, lambda v: 1 <= v <= 10_000, "an integer from 1 to 10000 (files per upload)"),
    "upload_max_bytes": (int, lambda v: v >= 1_000, "an integer >= 1000 (bytes per upload)"),
    "upload_max_ratio": (int, lambda v: v >= 1, "an integer >= 1 (unzipped / zipped size of a zip member)"),
    "generate_max_notes": (int, lambda v: 1 <= v <= 100_000, "an integer from 1 to 100000 (notes per web sample)"),
    "primer_timeout": (float, lambda v: 0 < v <= 600, "seconds from 0 (exclusive) to 600 to read an uploaded primer"),
    "compose_timeout": (float, lambda v: 0 < v <= 3600, "seconds from 0 (exclusive) to 3600 a web request waits for "
                        "its piece before a 503"),
    "samples_max_mb": (int, lambda v: v >= 0, "an integer >= 0 (megabytes of web samples kept; 0 = keep them all)"),
    "vocabulary": (str, lambda v: v in VOCABULARIES, f"one of {VOCABULARIES} (data: tokens the genre's pieces use "
                   "min_count times; fixed: every token of the encoding's grid, the same for every genre)"),
    "init": (str, lambda v: v in INITS, f"one of {INITS} (base: fine-tune models/_base; scratch: random weights)"),
    "finetune_learning_rate": (float, lambda v: 0 < v <= 1, "a number in (0, 1] (peak rate when fine-tuning a base)"),
    "finetune_epochs": (int, lambda v: v >= 1, "an integer >= 1 (epochs when fine-tuning a base)"),
    "upload_finetune_epochs": (int, lambda v: 1 <= v <= 1000, "an integer from 1 to 1000 (fine-tuning epochs of a "
                               "collection uploaded in the web app)"),
    "upload_finetune_learning_rate": (float, lambda v: 0 < v <= 1, "a number in (0, 1] (peak fine-tuning rate of a "
                                      "collection uploaded in the web app)"),
    "finetune_freeze": (int, lambda v: 0 <= v <= 8, "an integer from 0 to layers (0 trains everything; k freezes "
                        "the token embedding and the lowest k - 1 blocks)"),
}
_PRETRAIN_RULES: dict[str, tuple[type, Any, str]] = {
    "sources": (list, lambda v: True, "a list of corpus sources, each `corpus: <music21 folder>` or `folder: <path>`"),
    "size": (str, lambda v: v in BASE_SIZES, f"one of {tuple(BASE_SIZES)} (layers, units, heads: {BASE_SIZES})"),
    "epochs": (int, lambda v: v >= 1, "an integer >= 1"),
    "windows_per_epoch": (int, lambda v: v >= 1, "an integer >= 1"),
    "learning_rate": (float, lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "batch_size": (int, lambda v: v >= 1, "an integer >= 1"),
    "val_fraction": (float, lambda v: 0 < v < 1, "a number between 0 and 1 (exclusive): pieces the base validates on"),
    "strategy": (str, lambda v: v in STRATEGIES, f"one of {STRATEGIES}"),
}
_SOURCE_RULES: dict[str, tuple[type, Any, str]] = {
    "corpus": (str, lambda v: bool(v), "a music21 corpus folder (e.g. essenFolksong)"),
    "folder": (str, lambda v: bool(v), "a folder of MIDI files (absolute, or relative to the project)"),
    "max_pieces": (int, lambda v: v >= 0, "an integer >= 0 (0 keeps all)"),
    "instruments": (str, lambda v: v in INSTRUMENTS, f"one of {INSTRUMENTS} (keep: each part its own instrument)"),
}
_GENRE_RULES: dict[str, tuple[type, Any, str]] = {
    "source": (str, lambda v: v in SOURCES, f"one of {SOURCES}"),
    "collection": (str, lambda v: True, "a music21 corpus folder"),
    "path": (str, lambda v: True, "a folder of MIDI files"),
    "max_pieces": (int, lambda v: v >= 0, "an integer >= 0 (0 keeps all)"),
    "program": (int, lambda v: 0 <= v <= 127, "a General MIDI program from 0 to 127 (0 piano, 40 violin, 73 flute)"),
    "bpm": (float, lambda v: 20 <= v <= 400, "a tempo from 20 to 400 quarter notes per minute"),
    "instruments": (str, lambda v: v in INSTRUMENTS, f"one of {INSTRUMENTS} (merge: all parts as one stream, "
                    "keep: every note keeps its track's instrument)"),
    "max_tracks": (int, lambda v: 1 <= v <= 64, "an integer from 1 to 64 (tracks kept per piece with instruments keep)"),
    "drums": (bool, lambda v: True, "true or false (keep the drum track with instruments keep)"),
    "finetune_epochs": (int, lambda v: 0 <= v <= 1000, "an integer from 0 to 1000 (this genre's epochs of "
                        "fine-tuning the base; 0 = params.yaml's finetune_epochs)"),
    "finetune_learning_rate": (float, lambda v: 0 <= v <= 1, "a number from 0 to 1 (this genre's peak rate of "
                               "fine-tuning the base; 0 = params.yaml's finetune_learning_rate)"),
    "transpose_into": (str, lambda v: v in TRANSPOSE_INTO, f"one of {TRANSPOSE_INTO} (this genre's; "
                       "leave it out for params.yaml's)"),
    "site": (str, lambda v: v in SITES, f"one of {SITES}"),
    "listing": (list, lambda v: bool(v) and all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in v),
                "a non-empty list of http(s) URLs of listing pages"),
    "urls_file": (str, lambda v: bool(v), "a text file of MIDI URLs, one a line (e.g. urls/game.txt)"),
}


def _checked(where: str, key: str, value: Any, rules: dict[str, tuple[type, Any, str]]) -> Any:
    if key not in rules:
        raise ParamError(f"{where}: unknown key {key!r} (= {reprlib.repr(value)}); "
                         f"known keys are {sorted(rules)}")
    kind, ok, allowed = rules[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ParamError(f"{where}: {key} = {value!r} has the wrong type; it must be {allowed}")
    if not ok(value):
        raise ParamError(f"{where}: {key} = {value!r} is out of range; it must be {allowed}")
    return value


def parse_params(raw: dict[str, Any], where: str = "params.yaml") -> Params:
    """Validate a params mapping and return Params; raises ParamError naming the bad key and value."""
    if not isinstance(raw, dict):
        raise ParamError(f"{where}: expected a mapping of parameters, got {type(raw).__name__}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("genres", "genres_2018", "pretrain"):
            continue
        values[key] = _checked(where, key, value, _RULES)
    genres_raw = raw.get("genres")
    if not isinstance(genres_raw, dict) or not genres_raw:
        raise ParamError(f"{where}: `genres` must map at least one genre name to its source")
    genres = {}
    for name, spec in genres_raw.items():
        genres[name] = parse_genre(name, spec, where)
    table_2018 = raw.get("genres_2018") or {}
    if not isinstance(table_2018, dict):
        raise ParamError(f"{where}: `genres_2018` must map genre names to their web sources, like `genres`")
    genres_2018 = {name: parse_genre(name, spec, where, table="genres_2018") for name, spec in table_2018.items()}
    pretrain = parse_pretrain(raw.get("pretrain") or {}, where)
    params = Params(**values, pretrain=pretrain, genres=genres, genres_2018=genres_2018)
    if params.architecture == "transformer" and params.units % params.heads:
        raise ParamError(f"{where}: units = {params.units} is not a multiple of heads = {params.heads}; a transformer "
                         "splits its width evenly over its heads (e.g. units 128 with heads 4)")
    if params.vocabulary == "fixed" and params.encoding not in ("rhythm", "remi_plus"):
        raise ParamError(f"{where}: vocabulary = 'fixed' is not available for encoding {params.encoding!r} (its "
                         "tokens have no small grid); use encoding rhythm or remi_plus, or vocabulary: data")
    if params.init == "base" and params.architecture != "transformer":
        raise ParamError(f"{where}: architecture = {params.architecture!r} cannot start from the base model, a "
                         "transformer; add -S init=scratch to train it from random weights")
    if params.init == "base" and params.vocabulary != "fixed":
        raise ParamError(f"{where}: init = 'base' needs vocabulary: fixed (the base's token ids); add -S init=scratch "
                         "to train on the genre's own vocabulary")
    if params.finetune_freeze > params.pretrain.shape[0]:
        raise ParamError(f"{where}: finetune_freeze = {params.finetune_freeze} is out of range; it must be from 0 to "
                         f"the base's {params.pretrain.shape[0]} layers (pretrain.size {params.pretrain.size})")
    return params


def parse_pretrain(raw: Any, where: str = "params.yaml") -> Pretrain:
    """Validate the `pretrain:` section: its corpus table, the base's size and its schedule."""
    if not isinstance(raw, dict):
        raise ParamError(f"{where}: `pretrain` must be a mapping (sources, size, epochs, ...)")
    fields = {k: _checked(f"{where}: pretrain", k, v, _PRETRAIN_RULES) for k, v in raw.items()}
    sources = []
    for i, spec in enumerate(fields.pop("sources", [])):
        at = f"{where}: pretrain.sources[{i}]"
        if not isinstance(spec, dict):
            raise ParamError(f"{at} must be a mapping: `corpus: <music21 folder>` or `folder: <path>`, with max_pieces")
        entry = {k: _checked(at, k, v, _SOURCE_RULES) for k, v in spec.items()}
        if ("corpus" in entry) == ("folder" in entry):
            raise ParamError(f"{at} needs exactly one of `corpus` (a music21 corpus folder) or `folder` (a folder "
                             f"of MIDI files); it has {sorted(entry)}")
        sources.append(CorpusSource(**entry))
    return Pretrain(sources=tuple(sources), **fields)


def check_genre_setting(key: str, value: Any, where: str) -> Any:
    """One setting of a genre entry checked by the genre table's own rules; a ParamError names the key and what it
    may be."""
    return _checked(where, key, value, _GENRE_RULES)


def parse_genre(name: str, spec: Any, where: str = "params.yaml", table: str = "genres") -> Genre:
    """Validate one entry of the genre table."""
    if not is_genre_name(name):
        raise ParamError(f"{where}: genre name {name!r} must be a short lowercase slug (letters, digits, - or _)")
    if not isinstance(spec, dict) or "source" not in spec:
        raise ParamError(f"{where}: {table}.{name} must be a mapping with a `source` ({SOURCES})")
    fields = {k: _checked(f"{where}: {table}.{name}", k, v, _GENRE_RULES) for k, v in spec.items()}
    if "listing" in fields:
        fields["listing"] = tuple(fields["listing"])
    genre = Genre(name=name, **fields)
    if genre.source == "corpus" and not genre.collection:
        raise ParamError(f"{where}: {table}.{name}.collection is required for source 'corpus' (e.g. oneills1850)")
    if genre.source == "local" and not genre.path:
        raise ParamError(f"{where}: {table}.{name}.path is required for source 'local' (a folder of .mid files)")
    if genre.source == "web" and not (genre.site and genre.listing):
        raise ParamError(f"{where}: {table}.{name} with source 'web' needs `site` ({SITES}) and `listing` "
                         "(a list of listing page URLs)")
    if genre.source == "urls" and not genre.urls_file:
        raise ParamError(f"{where}: {table}.{name}.urls_file is required for source 'urls' "
                         "(a text file of MIDI URLs, one a line)")
    return genre


def check_inputs(genre: Genre) -> None:
    """The files a genre's source reads exist: its local folder or its URL list; a ParamError names the key if not."""
    where = f"genres.{genre.name}"
    if genre.source == "local" and not Path(genre.path).is_dir():
        raise ParamError(f"{where}.path = {genre.path!r} is not a folder; it must be a folder of .mid files "
                         "(absolute, or relative to the project)")
    if genre.source == "urls" and not Path(genre.urls_file).is_file():
        raise ParamError(f"{where}.urls_file = {genre.urls_file!r} is not a file; it must be a text file of MIDI "
                         "URLs, one a line (e.g. urls/game.txt)")


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamError(f"{path}: not found; run from the project root, where params.yaml lives") from None
    except yaml.YAMLError as exc:
        raise ParamError(f"{path}: not valid YAML: {exc}") from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml, plus the web app's genres from app_genres.yaml beside it."""
    path = Path(path)
    params = parse_params(_read_yaml(path), str(path))
    app_file = path.with_name(APP_GENRES)
    if not app_file.exists():
        return params
    app_genres = parse_app_genres(_read_yaml(app_file), params, str(app_file))
    return dataclasses.replace(params, genres={**params.genres, **app_genres})


def parse_app_genres(raw: Any, params: Params, where: str = APP_GENRES) -> dict[str, Genre]:
    """The `genres` table of app_genres.yaml; a name that params.yaml already has is refused (DVC would clash too)."""
    raw = {} if raw is None else raw
    if not isinstance(raw, dict) or set(raw) - {"genres"} or not isinstance(raw.get("genres") or {}, dict):
        raise ParamError(f"{where}: expected only `genres:`, mapping genre names to their sources as in params.yaml")
    genres = {name: parse_genre(name, spec, where) for name, spec in (raw.get("genres") or {}).items()}
    for name in genres.keys() & params.genres.keys():
        raise ParamError(f"{where}: genre {name!r} is also in params.yaml; remove it from one of the two files")
    return genres


def as_dict(params: Params) -> dict[str, Any]:
    """Params as plain data (for logs and for recording beside outputs)."""
    return dataclasses.asdict(params)
