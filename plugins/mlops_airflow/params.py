"""The DAGs' run params: bounded JSON-schema ``Param`` factories, and ``RunParam``, which hands an operator a
param's validated value as it is, without Jinja.

Why not ``"{{ params.reason }}"``: with ``render_template_as_native_obj=True`` the rendered string is
literal-evaluated, so a reason ``"1.10"`` arrives as the float ``1.1`` and ``"[1]"`` as a list. A
``RunParam`` is resolved by Airflow's template rendering like an ``XComArg`` (anything with
``resolve(context)``) and returns ``context["params"][name]``: the value validated against the Param,
exactly as sent.

Why the patterns end in ``(?![\\s\\S])`` and not ``$``: Airflow validates with the Python ``jsonschema``
library, which searches a ``pattern`` with ``re.search``, where ``$`` also matches before a trailing
newline (``^[0-9]+$`` accepts ``"3\\n"``). ``\\Z`` is Python-only; a negative lookahead for any character
means "end of string" in Python and ECMA regexes alike.

Every schema names draft 7 (``$schema``): Airflow validates each Param when a DAG file is parsed, and
jsonschema's default (2020-12) checks a schema with nested subschemas (``drift_summary``'s) against its
meta-schema ~5 times slower (about 2.5 ms against 0.3 ms per parse, measured); the keywords used here mean
the same in both.

This module is imported at DAG parse time: the Task SDK only.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context

END = r"(?![\s\S])"  # end of string, no trailing newline
MIN_DATE, MAX_DATE = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
# YYYY-MM-DD with the year 2000..2100; ``format: date`` checks the day exists (jsonschema's format checker
# does; ``formatMinimum``/``formatMaximum`` are not jsonschema keywords, so the range is in the pattern).
DATE_PATTERN = r"^(?:20[0-9]{2}|2100)-[0-9]{2}-[0-9]{2}" + END
VERSION_MAX_DIGITS = 9  # < 2**31: a registry's integer column, never an overflow (MLflow answers 500 to those)
VERSION_PATTERN = r"^[1-9][0-9]{0,8}" + END  # 1 to VERSION_MAX_DIGITS digits
ID_PATTERN = r"^[0-9A-Za-z_-]+" + END
# Free text: anything but lone UTF-16 surrogates (JSON "\ud800" decodes to one; Airflow answers 500 when it
# stores such a conf because it cannot be encoded as UTF-8).
TEXT_PATTERN = r"^[^\ud800-\udfff]*" + END
DRAFT: dict[str, Any] = {"$schema": "http://json-schema.org/draft-07/schema#"}


class InvalidRunParams(AirflowFailException, ValueError):
    """A param or conf value no retry can fix (out-of-range date, malformed version). Fails at once."""


def date_param(description: str) -> Param:
    """Optional ``YYYY-MM-DD`` between 2000-01-01 and 2100-12-31."""
    return Param(None, type=["null", "string"], format="date", pattern=DATE_PATTERN, description=description, **DRAFT)


def version_param(description: str) -> Param:
    """Optional registered model version: 1 to 9 digits, no leading zero, as a string."""
    return Param(
        None,
        type=["null", "string"],
        pattern=VERSION_PATTERN,
        maxLength=VERSION_MAX_DIGITS,
        description=description,
        **DRAFT,
    )


def id_param(*, max_length: int, description: str) -> Param:
    """Optional identifier: letters, digits, ``_`` and ``-``."""
    return Param(
        None, type=["null", "string"], maxLength=max_length, pattern=ID_PATTERN, description=description, **DRAFT
    )


def text_param(default: str, *, min_length: int, max_length: int, description: str) -> Param:
    """Free text, recorded verbatim: any characters (newlines too) but lone surrogates."""
    return Param(
        default,
        type="string",
        minLength=min_length,
        maxLength=max_length,
        pattern=TEXT_PATTERN,
        description=description,
        **DRAFT,
    )


def json_object_param(description: str) -> Param:
    """An optional JSON object recorded verbatim; no key or string anywhere in it may hold a lone surrogate."""
    clean = {"$ref": "#/definitions/clean"}
    return Param(
        None,
        type=["null", "object"],
        propertyNames={"pattern": TEXT_PATTERN},
        additionalProperties=clean,
        definitions={
            "clean": {
                "pattern": TEXT_PATTERN,  # each keyword applies to its own type only
                "propertyNames": {"pattern": TEXT_PATTERN},
                "additionalProperties": clean,
                "items": clean,
            }
        },
        description=description,
        **DRAFT,
    )


class RunParam:
    """``context["params"][name]`` at render time, as validated: no Jinja, no literal evaluation.

    Put it in an operator's template field like an ``XComArg``: ``reason=RunParam("reason")``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def resolve(self, context: Context) -> Any:
        return context["params"][self.name]

    def iter_references(self) -> tuple:  # no upstream task
        return ()

    def __repr__(self) -> str:  # what the UI shows as the unrendered field
        return f"params[{self.name!r}]"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunParam) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("RunParam", self.name))


def as_date(value: Any, what: str = "date") -> dt.date:
    """A date from a param or the run (date, datetime or ``YYYY-MM-DD``) within 2000-01-01..2100-12-31;
    ``InvalidRunParams`` (no retry) otherwise."""
    day: dt.date | None
    if isinstance(value, dt.datetime):
        day = value.astimezone(dt.UTC).date()
    elif isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            day = None
    if day is None:
        raise InvalidRunParams(f"{what} {value!r} is not a date; use YYYY-MM-DD")
    if not MIN_DATE <= day <= MAX_DATE:
        raise InvalidRunParams(f"{what} {day.isoformat()} is outside {MIN_DATE}..{MAX_DATE}")
    return day


def as_version(value: Any, what: str = "version") -> str:
    """A registered model version: a string of 1-9 digits without a leading zero; ``InvalidRunParams`` otherwise."""
    ok = isinstance(value, str) and 1 <= len(value) <= VERSION_MAX_DIGITS and value.isascii() and value.isdigit()
    if not ok or value.startswith("0"):
        raise InvalidRunParams(f"{what} {value!r} is not a model version (1 to {VERSION_MAX_DIGITS} digits)")
    return value
