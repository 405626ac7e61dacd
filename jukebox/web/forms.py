"""The forms of the pages, also used (without the CSRF field) to check the API's fields: one set of rules for both."""
from __future__ import annotations

import json
import re
from functools import lru_cache

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, MultipleFileField
from werkzeug.datastructures import MultiDict
from wtforms import FloatField, IntegerField, PasswordField, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.widgets import CheckboxInput, ListWidget
from wtforms.validators import InputRequired, NumberRange, Optional, Regexp, ValidationError

from ..params import GENRE_NAME

MAX_TEMPERATURE = 10.0
MAX_TOP_K = 1000
MAX_SEED = 2**32 - 1


def _in_range(low, high, what: str, parameter: str = ""):
    where = f" ({parameter} in params.yaml)" if parameter else ""
    return NumberRange(low, high, message=f"must be {what} from {low} to {high}{where}")


def _share(form, field) -> None:
    if field.data is not None and not 0 < field.data <= 1:
        raise ValidationError("must be a number above 0 and at most 1 (1 = no nucleus filter)")


@lru_cache(maxsize=None)
def generate_form(max_notes: int) -> type[FlaskForm]:
    """The Generate form for a limit on notes (generate_max_notes in params.yaml)."""

    class GenerateForm(FlaskForm):
        # Choices are the trained genres, set per request; an unknown one gets its own clear message.
        genre = SelectField("Genre", validators=[InputRequired("choose a genre")], validate_choice=False)
        n_notes = IntegerField("Length (notes)", validators=[
            Optional(), _in_range(1, max_notes, "a whole number of notes", "generate_max_notes")])
        temperature = FloatField("Adventurousness (temperature)", validators=[Optional(), _in_range(0.0, MAX_TEMPERATURE, "a number")])
        top_k = IntegerField("Likeliest notes only (top-k)", validators=[Optional(), _in_range(0, MAX_TOP_K, "a whole number")])
        top_p = FloatField("Focus (top-p)", validators=[Optional(), _share])
        seed = IntegerField("Piece number (seed)", validators=[Optional(), _in_range(0, MAX_SEED, "a whole number")])
        primer = FileField("Your own opening (optional MIDI file)")
        # The instruments of the genres that keep theirs, set per request; none ticked: every instrument plays.
        instruments = SelectMultipleField("Instruments", choices=[], validate_choice=True, option_widget=CheckboxInput(),
                                          widget=ListWidget(prefix_label=False))

        def validate_genre(self, field) -> None:
            trained = [value for value, _ in self.genre.choices or []]
            if field.data not in trained:
                raise ValidationError(f"unknown or untrained genre {field.data!r}; trained genres: {trained}")

    return GenerateForm


class CollectionForm(FlaskForm):
    """A new genre: its name and its MIDI files (or one zip)."""

    name = StringField("Genre name", validators=[
        InputRequired("give the genre a name"),
        Regexp(GENRE_NAME, message="must be a short lowercase slug: a letter, then up to 31 letters, digits, - or _")])
    files = MultipleFileField("MIDI files or one zip")
    # Checked by params.yaml's genre rules when the genre's entry is made (uploads.collection_settings), as the API's
    # fields are, so a forged value is refused by the same words either way.
    instruments = RadioField("Instruments", default="keep", validate_choice=False, choices=[
        ("keep", "keep each track's instrument"), ("merge", "merge all parts into one stream")])
    drums = RadioField("Drums", default="true", validate_choice=False, choices=[
        ("true", "keep the drum track"), ("false", "drop the drums")])


def suggest_name(name: str) -> str:
    """A genre slug made from a refused name: `Folk Songs` -> `folk-songs`, `Über Jazz!` -> `uber-jazz` ('' if none)."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9_]+", "-", plain).strip("-_")
    slug = re.sub(r"^[^a-z]+", "", slug)  # a slug starts with a letter
    return slug[:32].rstrip("-_")


class TokenForm(FlaskForm):
    """The access token a server bound beyond this machine asks for before anything that writes."""

    token = PasswordField("Access token", validators=[InputRequired("enter the token")])


def field_limit(form: FlaskForm, name: str) -> dict:
    """The allowed range of a form's field ({} if it has none)."""
    if name == "top_p":
        return {"above": 0, "max": 1}
    ranges = [v for v in getattr(form, name).validators if isinstance(v, NumberRange)]
    return {"min": ranges[0].min, "max": ranges[0].max} if ranges else {}


def first_error(form: FlaskForm) -> tuple[str, str, dict]:
    """The first invalid field of a validated form, its message, and its allowed range if it has one."""
    for name, messages in form.errors.items():
        message = messages[0] if isinstance(messages, list) else str(messages)
        return name, message, field_limit(form, name)
    return "", "", {}


class ListenForm(FlaskForm):
    """One answer of the listening test: which excerpt the model composed, and optional ratings of both."""

    pair = StringField(validators=[InputRequired(), Regexp(r"\A[0-9a-f]{12}\Z", message="unknown pair")])
    answer = SelectField(choices=[("left", "left"), ("right", "right"), ("unsure", "can't tell")],
                         validators=[InputRequired("choose left, right or can't tell")])
    rating_left = IntegerField(validators=[Optional(), _in_range(1, 5, "a whole number")])
    rating_right = IntegerField(validators=[Optional(), _in_range(1, 5, "a whole number")])


class JSONFieldError(ValueError):
    """A JSON body that is no object, or a field of it of the wrong type; `field` names it ('' for the body)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def json_formdata(body: bytes, form: FlaskForm) -> MultiDict:
    """A JSON object's fields as form data for `form`, each checked for its type first.

    JSON has types of its own that form data lacks: `true` or `1.5` must not pass for a whole number (WTForms would
    read them as 1), nor `["celtic"]` for a genre (read as its first item). Numbers as text are left to the form.
    """
    try:
        data = json.loads(body) if body.strip() else {}  # no body: every field left out
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than Python's stack
        reason = "nested too deeply" if isinstance(exc, RecursionError) else f"not valid JSON ({exc})"
        raise JSONFieldError("", f"the body is {reason}; send one JSON object of fields, e.g. "
                                 '{"genre": "celtic", "n_notes": 200}') from None
    if not isinstance(data, dict):
        raise JSONFieldError("", f"the body is a JSON {type(data).__name__}, not a JSON object of fields; send e.g. "
                                 '{"genre": "celtic", "n_notes": 200}')
    fields = MultiDict()
    for name, value in data.items():
        field = getattr(form, name, None) if isinstance(name, str) and name in form._fields else None
        if field is None or value is None:
            continue  # an unknown field is ignored, as form data's is; null is a field left out
        if isinstance(field, IntegerField):
            ok, kind = isinstance(value, (int, str)) and not isinstance(value, bool), "a whole number"
        elif isinstance(field, FloatField):
            ok, kind = isinstance(value, (int, float, str)) and not isinstance(value, bool), "a number"
        else:
            ok, kind = isinstance(value, str), "a string"
        if not ok:
            raise JSONFieldError(name, f"must be {kind}, not JSON {json.dumps(value)[:40]}")
        fields.add(name, str(value))
    return fields
