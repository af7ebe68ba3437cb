"""Hostile and careless input over REST, against the live API server of the integration stack (SimpleAuthManager,
JWT, PostgreSQL): a few hundred deterministic payloads.

- ``POST /api/v2/dags/<dag>/dagRuns`` for the five DAGs with params (review_shadow has none): conf values of the
  wrong type, at and past each bound, huge, unicode, path traversal, Jinja, SQL, unknown keys; malformed bodies;
  hostile ``dag_run_id`` values.
- ``GET /mlops/reports/<key>`` (the plugin's route) with hostile keys, sent byte for byte (dot segments are not
  normalized away by the client): a sample; ``tests/plugins/test_reports_hostile.py`` covers the app in-process.

Asserted: no answer is a 5xx; a conf the Params refuse is a 400 naming the param; a malformed body is a 400 or
422 with a message; an accepted conf reads back (``GET .../dagRuns/<id>``) exactly as sent, types and characters;
the stack's ``[scheduler] allowed_run_id_pattern`` (``conftest.RUN_ID_PATTERN``, as in docker-compose.yaml)
refuses a run id with a trailing newline or of 251 characters with a 400.

Framework 500s the project cannot fix (Airflow 3.3's handling of extreme logical dates, and its audit log storing a
``dag_run_id`` with a NUL or a lone surrogate before the route validates it) are strict xfails below, each naming
the Airflow behaviour: they fail (XPASS) once Airflow answers them with a 4xx. A lone surrogate or NUL in a conf key
that no Param declares is a 422 from Airflow (its DataError handler); in a Param of the project, a 400.

Isolation: the stack is shared and its tests run in file order; this module runs after test_distributed_pipeline,
test_kill_recovery and test_rest_contract, before test_scoring_stack (and on its own). It pauses the five DAGs
first, so an accepted trigger only queues a run that never executes (score_batch's too: a paused DAG gets no
asset-triggered run either); every run it creates is deleted at the end, the DAGs' runs are then exactly those
from before, and each DAG is left paused or unpaused as it was.
"""

from __future__ import annotations

import collections
import http.client
import json
import random
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.conftest import RUN_ID_PATTERN, Stack

pytestmark = pytest.mark.integration

TRAIN, ROLLBACK, INGEST, DRIFT = "train_and_promote", "rollback_champion", "ingest_and_validate", "drift_monitor"
SCORE = "score_batch"
DAGS = (TRAIN, ROLLBACK, INGEST, DRIFT, SCORE)
PREFIX = "fuzz_"
REQUIRED = {ROLLBACK: {"reason": "fuzz rollback"}}  # a valid conf of rollback_champion needs a reason
SEED = 20260601


# -- what the Params accept (an oracle written from the DAG files, independent of jsonschema) -----------------


def _is_int(v: Any) -> bool:  # JSON-schema "integer": 3 and 3.0, never a bool
    return (type(v) is int) or (type(v) is float and v.is_integer())


def _clean(v: Any) -> bool:
    """No lone surrogate in any string or key (what TEXT_PATTERN and json_object_param refuse)."""
    if isinstance(v, str):
        return not any(0xD800 <= ord(c) <= 0xDFFF for c in v)
    if isinstance(v, list):
        return all(_clean(x) for x in v)
    if isinstance(v, dict):
        return all(_clean(k) and _clean(x) for k, x in v.items())
    return True


def _date_ok(v: Any) -> bool:
    import datetime as dt
    import re

    if v is None:
        return True
    if not isinstance(v, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v) or v.endswith("\n"):
        return False
    try:
        day = dt.date.fromisoformat(v)
    except ValueError:
        return False
    return dt.date(2000, 1, 1) <= day <= dt.date(2100, 12, 31)


def _int_ok(lo: int, hi: int):
    return lambda v: v is None or (_is_int(v) and lo <= v <= hi)


def _text_ok(lo: int, hi: int):
    return lambda v: isinstance(v, str) and lo <= len(v) <= hi and _clean(v)


def _bool_ok(v: Any) -> bool:
    return type(v) is bool


def _object_ok(v: Any) -> bool:
    return v is None or (isinstance(v, dict) and _clean(v))


def _id_ok(v: Any) -> bool:
    import re

    return v is None or (isinstance(v, str) and len(v) <= 64 and re.fullmatch(r"[0-9A-Za-z_-]+", v) is not None)


def _version_ok(v: Any) -> bool:
    import re

    return v is None or (isinstance(v, str) and re.fullmatch(r"[1-9][0-9]{0,8}", v) is not None)


SPECS = {
    TRAIN: {
        "window_days": _int_ok(2, 365),
        "holdout_days": _int_ok(1, 90),
        "window_end": _date_ok,
        "reason": _text_ok(1, 500),
        "dry_run": _bool_ok,
        "drift_summary": _object_ok,
        "monitoring_run_id": _id_ok,
    },
    ROLLBACK: {"target_version": _version_ok, "reason": _text_ok(3, 500)},
    INGEST: {"ds": _date_ok, "requarantine_curated": _bool_ok},
    DRIFT: {"window_end": _date_ok},
    # Each param on its own, as the Params validate at trigger time. Whether start..end is a range (end not
    # before start, at most 366 days) is checked when the run starts (days_to_score: InvalidRunParams, not
    # retried), so a conf of two valid dates in any order is accepted here.
    SCORE: {"start": _date_ok, "end": _date_ok, "model_version": _version_ok},
}
FREE_TEXT = {TRAIN: "reason", ROLLBACK: "reason"}


# -- the payloads ----------------------------------------------------------------------------------------------

WRONG_TYPES: list[Any] = [None, True, False, 0, -1, 1, 2, 3.0, 2.5, 1e308, -(2**63), 2**64, "", " ", "3", "true",
                          "null", [], [1], ["2026-06-01"], {}, {"a": 1}]  # fmt: skip
HOSTILE_TEXT = [
    "1.10", "[1]", "None", "null", "True", "{}", "3", "  padded  ", "{{ 7*7 }}", "{% raw %}x", "{{ params }}",
    "{{ ''.__class__.__mro__ }}", "${jndi:ldap://x/a}", "%s%s%n", "../../../etc/passwd", "..\\..\\boot.ini",
    "file:///etc/passwd", "<script>alert(1)</script>", "'; DROP TABLE dag_run; --", "\" OR 1=1 --",
    "ünïcødé — 🚀\nline 2\n", "a\r\nb\tc", "\x01\x1f\x7f", "\u202eRTL override", "zero\u200bwidth",
    "e\u0301 combining", "\ufeffBOM", "\u2028\u2029", "\uffff\ufffe", "\U0010ffff", "🚀" * 500, "x" * 500,
    "٣٤٥", "２０２６-０６-０１", "\\", '"', "'", "\\u0000",
]  # fmt: skip
SURROGATES = ["\ud800", "a\udfffb", "\udc00" * 3, "x" * 10 + "\ud83d"]  # lone halves (a JSON "\ud800" escape)
HOSTILE_DATES = [
    "2026-06-01\n", "\n2026-06-01", " 2026-06-01", "2026-06-01 ", "2026-6-1", "20260601", "2026-06-01T00:00:00Z",
    "2026-06-31", "2026-02-29", "2024-02-29", "2100-02-29", "1999-12-31", "2000-01-01", "2100-12-31", "2101-01-01",
    "0001-01-01", "9999-12-31", "0000-00-00", "-2026-06-01", "+2026-06-01", "２０２６-０６-０１", "2026-06-01\x00",
    "{{ ds }}", "{{ macros.ds_add(ds, 1) }}", "../2026-06-01", "2026-06-01/../..", "yesterday", "2026-06-01" * 50,
]  # fmt: skip


@dataclass
class Case:
    cls: str  # payload class (the report's table)
    dag: str
    body: Any  # the JSON body, or bytes sent as they are
    expect: str  # "ok" (200, conf round-trips), "param" (400 naming one of ``params``), "bad" (400/422, a message)
    params: tuple[str, ...] = ()  # the params the conf breaks (Airflow names the first it validates)
    content_type: str = "application/json"


def _conf_case(cls: str, dag: str, conf: dict[str, Any], rng: random.Random) -> Case:
    full = {**REQUIRED.get(dag, {}), **conf}
    bad = [name for name, value in full.items() if name in SPECS[dag] and not SPECS[dag][name](value)]
    if dag == ROLLBACK and "reason" not in full:
        bad.append("reason")
    body: dict[str, Any] = {"dag_run_id": f"{PREFIX}{rng.getrandbits(64):016x}", "logical_date": None, "conf": full}
    if bad:
        return Case(cls, dag, body, "param", tuple(bad))
    return Case(cls, dag, body, "ok")


def conf_cases() -> list[Case]:
    """Every param of every DAG: wrong types, bounds, hostile text and dates, huge values, unknown keys; plus a
    seeded random mix of several params at once."""
    rng = random.Random(SEED)
    cases: list[Case] = []
    for dag, spec in SPECS.items():
        for name in spec:
            for value in WRONG_TYPES:
                cases.append(_conf_case("wrong type", dag, {name: value}, rng))
    bounds = {
        (TRAIN, "window_days"): [1, 2, 365, 366, 2.0, 365.0, 365.5],
        (TRAIN, "holdout_days"): [0, 1, 90, 91, -0.0],
        (TRAIN, "reason"): ["", "r", "x" * 499, "x" * 501, "🚀" * 501],
        (ROLLBACK, "reason"): ["ab", "abc", "🚀🚀", "🚀🚀🚀", "x" * 501],
        (ROLLBACK, "target_version"): ["1", "999999999", "1000000000", "0", "007", "-1", "1.0", "3\n", "٣", "9" * 40],
        (SCORE, "model_version"): ["1", "999999999", "1000000000", "0", "007", "-1", "1.0", "3\n", "٣", "9" * 40],
        (TRAIN, "monitoring_run_id"): ["a" * 64, "a" * 65, "a/b", "abc\n", "ok-ID_1", "../x"],
    }
    for (dag, name), values in bounds.items():
        for value in values:
            cases.append(_conf_case("bounds", dag, {name: value}, rng))
    for dag, name in FREE_TEXT.items():
        for value in HOSTILE_TEXT:
            cases.append(_conf_case("free text", dag, {name: value}, rng))
        for value in SURROGATES:
            cases.append(_conf_case("lone surrogate (param)", dag, {name: value}, rng))
    for dag, name in ((TRAIN, "window_end"), (DRIFT, "window_end"), (INGEST, "ds"), (SCORE, "start"), (SCORE, "end")):
        for value in HOSTILE_DATES:
            cases.append(_conf_case("dates", dag, {name: value}, rng))
    for value in ("2026-06-01", "2026-06-15", None):  # accepted: the DAGs are paused, the runs never execute
        cases.append(_conf_case("dates", INGEST, {"ds": value, "requarantine_curated": False}, rng))
    for conf in (  # accepted ranges (and one of the two alone); a bad half names its param
        {"start": "2026-06-01", "end": "2026-06-07"},
        {"start": "2026-06-01", "end": "2026-06-01", "model_version": "1"},
        {"start": "2000-01-01", "end": "2100-12-31"},
        {"start": "2026-06-01"},
        {"end": "2026-06-07", "model_version": None},
        {"start": None, "end": None, "model_version": "42"},
        {"start": "2026-06-01", "end": "2026-06-31"},
        {"start": "2026-06-01\n", "end": "2026-06-07"},
        {"start": "2026-06-01", "end": "2026-06-07", "model_version": "007"},
    ):
        cases.append(_conf_case("dates", SCORE, conf, rng))
    huge = {"x" * 100_000: 1}
    for dag, name, value in (
        (TRAIN, "reason", "x" * 1_000_000),
        (ROLLBACK, "reason", "ü" * 100_000),
        (TRAIN, "window_end", "2" * 100_000),
        (INGEST, "ds", "9" * 100_000),
        (ROLLBACK, "target_version", "1" * 100_000),
        (SCORE, "start", "2" * 100_000),
        (SCORE, "model_version", "1" * 100_000),
        (TRAIN, "monitoring_run_id", "a" * 100_000),
        (TRAIN, "drift_summary", {"k": "v" * 200_000, "l": list(range(10_000))}),
        (TRAIN, "drift_summary", huge),
        (TRAIN, "window_days", 10**400),  # a JSON integer of 401 digits
    ):
        cases.append(_conf_case("huge", dag, {name: value}, rng))
    nested: Any = "leaf"
    for _ in range(100):
        nested = {"n": [nested]}
    objects = [
        nested,
        {"ds": "2026-06-01", "x": "{{ 7*7 }}", "v": [1.10, None, True], "ü": {"🚀": "e\u0301"}},
        {"bad \ud800 key": 1},
        {"k": ["ok", {"deep": "lone \udc00"}]},
        {"": ""},
    ]
    for value in objects:
        cases.append(_conf_case("object", TRAIN, {"drift_summary": value}, rng))
    for dag in DAGS:  # unknown keys: Airflow keeps a conf key no Param declares (stored, not validated)
        for conf in (
            {"windowdays": 3},
            {"ds ": "2026-06-01"},
            {"REASON": "upper"},
            {"__class__": "x", "{{ 7*7 }}": "{{ 7*7 }}"},
            {"../../etc/passwd": "../..", "ü🚀": "ü🚀"},
            {"params": {"reason": "nested"}},
        ):
            cases.append(_conf_case("unknown key", dag, conf, rng))
    for _ in range(40):  # several params at once, drawn from the values above
        dag = rng.choice(DAGS)
        names = rng.sample(sorted(SPECS[dag]), k=rng.randint(1, len(SPECS[dag])))
        pool = WRONG_TYPES + HOSTILE_TEXT[:20] + HOSTILE_DATES[:10] + ["2026-06-01", "4", 7, True]
        cases.append(_conf_case("mixed", dag, {n: rng.choice(pool) for n in names}, rng))
    return cases


def body_cases() -> list[Case]:
    """Bodies that are not what the route expects: Airflow's model refuses them (422) or create_dagrun (400)."""
    rid = f"{PREFIX}body"
    raw = [
        b"",
        b"not json",
        b"{",
        b'{"logical_date": null,}',
        b'{"logical_date": null, "conf": {"reason": NaN}}',
        b'{"logical_date": null, "conf": {"window_days": Infinity}}',
        b"[]",
        b"null",
        b'"conf"',
        b"\xff\xfe{}",
        b'{"logical_date": null, "conf": {"reason": "\xc3\x28"}}',  # invalid UTF-8
    ]
    cases = [Case("malformed body", TRAIN, b, "bad") for b in raw]
    # Careless, accepted by Airflow's model: a number is a Unix timestamp (2024-06-01T00:00:00Z).
    cases.append(Case("wrong body", TRAIN, {"dag_run_id": f"{rid}_epoch", "logical_date": 1717200000}, "ok"))
    # Conf keys no Param declares are stored unvalidated; PostgreSQL's JSONB refuses a lone surrogate or
    # \u0000 in them and Airflow 3.3's DataError handler answers 422 (the project's Params refuse them: 400).
    for i, value in enumerate(("lone \ud800 surrogate", "nul \x00 byte", {"k": ["\udfff"]})):
        body = {"dag_run_id": f"{rid}_undeclared_{i}", "logical_date": None, "conf": {"note_to_self": value}}
        cases.append(Case("unstorable undeclared key", TRAIN, body, "bad"))
    cases.append(Case("malformed body", TRAIN, b'{"logical_date": null}', "bad", content_type="text/plain"))
    bodies = [
        {},  # logical_date is required (may be null)
        {"logical_date": None, "conf": []},
        {"logical_date": None, "conf": "reason=x"},
        {"logical_date": None, "conf": 3},
        {"logical_date": None, "unknown": 1},
        {"logical_date": None, "dag_id": "rollback_champion"},
        {"logical_date": "yesterday"},
        {"logical_date": "2026-06-01"},  # no timezone: not an AwareDatetime
        {"logical_date": "2026-06-01T00:00:00"},
        {"logical_date": None, "run_after": "soon"},
        {"logical_date": None, "data_interval_start": "2026-06-01T00:00:00Z"},  # without its end
        {"logical_date": None, "dag_run_id": 3},
        {"logical_date": None, "dag_run_id": ["a"]},
        {"logical_date": None, "note": {"a": 1}},
        {"logical_date": None, "partition_key": "p"},  # the DAGs are not partitioned
    ]
    cases += [Case("wrong body", TRAIN, {"dag_run_id": f"{rid}_{i}", **b}, "bad") for i, b in enumerate(bodies)]
    return cases


RUN_ID_REFUSED = [  # refused by the pattern (or Airflow's ".." and reserved-prefix rules): 400
    f"{PREFIX}newline\n",  # `$` of Airflow's default pattern matches before it (200 there); `\Z` does not
    "\n" + PREFIX,
    f"{PREFIX}a b",
    f"{PREFIX}a/b",
    f"{PREFIX}..",  # path traversal (also refused by Airflow's '..' rule)
    "../../etc/passwd",
    f"{PREFIX}ü",
    f"{PREFIX}{{{{ 7*7 }}}}",
    f"{PREFIX}%2e%2e",
    "scheduled__2026-06-01T00:00:00+00:00",  # reserved for scheduled runs
]
RUN_ID_ACCEPTED = [PREFIX + "x" * (250 - len(PREFIX)), f"{PREFIX}a.b~c:d+e-f", f"{PREFIX}A"]


# -- the session ----------------------------------------------------------------------------------------------


class Fuzz:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.created: dict[str, set[str]] = {d: set() for d in DAGS}
        self.table: collections.Counter[tuple[str, int]] = collections.Counter()

    def post(self, case: Case) -> Any:
        path = f"/api/v2/dags/{case.dag}/dagRuns"
        if isinstance(case.body, bytes):
            r = self.stack.api("POST", path, data=case.body, headers={"Content-Type": case.content_type})
        else:
            r = self.stack.api("POST", path, json=case.body)
        self.table[(case.cls, r.status_code)] += 1
        if r.status_code in (200, 201):
            self.created[case.dag].add(r.json()["dag_run_id"])
        return r

    def run(self, dag: str, run_id: str) -> Any:
        return self.stack.api("GET", f"/api/v2/dags/{dag}/dagRuns/{urllib.parse.quote(run_id, safe='')}")

    def run_ids(self, dag: str) -> set[str]:
        out: set[str] = set()
        while True:
            page = self.stack.api("GET", f"/api/v2/dags/{dag}/dagRuns", params={"limit": 100, "offset": len(out)})
            assert page.status_code == 200, (page.status_code, page.text)
            runs = page.json()["dag_runs"]
            out |= {run["dag_run_id"] for run in runs}
            if len(runs) < 100:
                return out


@pytest.fixture(scope="module")
def fuzz(stack: Stack) -> Iterator[Fuzz]:
    f = Fuzz(stack)
    paused = {d: stack.api("GET", f"/api/v2/dags/{d}").json()["is_paused"] for d in DAGS}
    for dag in DAGS:  # an accepted trigger queues a run that never executes
        r = stack.api("PATCH", f"/api/v2/dags/{dag}", json={"is_paused": True})
        assert r.status_code == 200, (r.status_code, r.text)
    before = {d: f.run_ids(d) for d in DAGS}
    try:
        yield f
    finally:
        leftover = []
        for dag, run_ids in f.created.items():
            for run_id in sorted(run_ids):
                r = stack.api("DELETE", f"/api/v2/dags/{dag}/dagRuns/{urllib.parse.quote(run_id, safe='')}")
                if r.status_code not in (204, 404):
                    leftover.append((dag, run_id, r.status_code))
        after = {d: f.run_ids(d) for d in DAGS}
        for dag in DAGS:
            if not paused[dag]:
                stack.unpause(dag)
        print("\nREST fuzz: requests by payload class and status")
        for (cls, status), n in sorted(f.table.items()):
            print(f"  {cls:28} {status}  {n}")
        assert not leftover, f"runs the fuzz test could not delete: {leftover}"
        assert after == before, {d: sorted(after[d] ^ before[d]) for d in DAGS if after[d] != before[d]}


def _typed(v: Any) -> Any:
    """``v`` with each scalar tagged by its JSON type: ``1 == 1.0 == True`` must not hide a changed type."""
    if isinstance(v, dict):
        return {k: _typed(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_typed(x) for x in v]
    return (type(v).__name__, v)


def _detail(r: Any) -> str:
    try:
        return json.dumps(r.json().get("detail"), ensure_ascii=False)
    except (ValueError, AttributeError):
        return r.text


def _check(fuzz: Fuzz, cases: list[Case]) -> None:
    problems = []
    for case in cases:
        r = fuzz.post(case)
        shown = repr(case.body)[:200]
        if r.status_code >= 500:
            problems.append(f"{case.cls} {case.dag}: {r.status_code} for {shown}: {r.text[:300]}")
        elif case.expect == "ok":
            if r.status_code not in (200, 201):
                problems.append(f"{case.cls} {case.dag}: {r.status_code}, expected 200 for {shown}: {r.text[:300]}")
                continue
            got = fuzz.run(case.dag, r.json()["dag_run_id"])
            if got.status_code != 200 or _typed(got.json()["conf"]) != _typed(case.body.get("conf", {})):
                problems.append(f"{case.cls} {case.dag}: conf changed: sent {shown}, read {got.text[:300]}")
        elif r.status_code not in (400, 422) or not _detail(r).strip('"'):
            problems.append(f"{case.cls} {case.dag}: {r.status_code}, expected 400/422 for {shown}: {r.text[:300]}")
        elif case.expect == "param" and (
            r.status_code != 400 or not any(f"param {name}:" in _detail(r) for name in case.params)
        ):
            problems.append(
                f"{case.cls} {case.dag}: expected 400 naming one of {case.params} for {shown}: {r.text[:300]}"
            )
    assert not problems, f"{len(problems)} of {len(cases)} payloads:\n" + "\n".join(problems)


def test_conf_payloads(fuzz: Fuzz):
    cases = conf_cases()
    assert len(cases) > 300
    _check(fuzz, cases)


def test_accepted_free_text_round_trips_verbatim(fuzz: Fuzz):
    """The reason reads back from the run exactly as sent, types and characters (no literal evaluation)."""
    for dag in (TRAIN, ROLLBACK):
        for value in ("1.10", "[1]", "None", "{{ 7*7 }}", "ünïcødé — 🚀\nline 2\n", "🚀" * 500, "x" * 500):
            run_id = f"{PREFIX}text_{len(fuzz.created[dag])}"
            body = {"dag_run_id": run_id, "logical_date": None, "conf": {"reason": value}}
            r = fuzz.post(Case("free text", dag, body, "ok"))
            assert r.status_code == 200, (r.status_code, r.text)
            assert r.json()["conf"] == {"reason": value}
            conf = fuzz.run(dag, run_id).json()["conf"]
            assert conf == {"reason": value} and type(conf["reason"]) is str


def test_malformed_bodies(fuzz: Fuzz):
    _check(fuzz, body_cases())


@pytest.mark.parametrize("run_id", RUN_ID_REFUSED, ids=lambda v: repr(v[:40]))
def test_hostile_run_ids_are_400(fuzz: Fuzz, run_id: str):
    for dag in (TRAIN, ROLLBACK):
        body = {"dag_run_id": run_id, "logical_date": None, "conf": REQUIRED.get(dag, {})}
        r = fuzz.post(Case("run id", dag, body, "bad"))
        assert r.status_code == 400, (dag, r.status_code, r.text[:300])
        assert _detail(r).strip('"'), r.text
    if run_id.endswith("\n"):
        assert "does not match regex pattern" in r.text, r.text


@pytest.mark.parametrize("length", [251, 10_000])
def test_run_ids_longer_than_the_column_are_refused(fuzz: Fuzz, length: int):
    """Refused by the pattern's ``{1,250}`` wherever a run is created (CLI, operators, Python); over REST,
    Airflow 3.3's audit log (``action_logging``, run before the route) stores the body's dag_run_id first, its
    250-character column refuses it and Airflow's DataError handler answers 422 "Value rejected by database".
    Either way: a 4xx, never a 500 nor a run."""
    run_id = PREFIX + "x" * (length - len(PREFIX))
    for dag in (TRAIN, ROLLBACK):
        body = {"dag_run_id": run_id, "logical_date": None, "conf": REQUIRED.get(dag, {})}
        r = fuzz.post(Case("run id", dag, body, "bad"))
        assert r.status_code in (400, 422), (dag, r.status_code, r.text[:300])
        assert _detail(r).strip('"'), r.text


def test_the_stack_sets_the_bounded_run_id_pattern(stack: Stack):
    assert stack.env["AIRFLOW__SCHEDULER__ALLOWED_RUN_ID_PATTERN"] == RUN_ID_PATTERN


@pytest.mark.parametrize("run_id", RUN_ID_ACCEPTED, ids=lambda v: repr(v[:40]))
def test_run_ids_within_the_pattern_are_accepted(fuzz: Fuzz, run_id: str):
    body = {"dag_run_id": run_id, "logical_date": None, "conf": REQUIRED[ROLLBACK]}
    r = fuzz.post(Case("run id", ROLLBACK, body, "ok"))
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert fuzz.run(ROLLBACK, run_id).json()["dag_run_id"] == run_id
    again = fuzz.post(Case("run id", ROLLBACK, body, "bad"))  # a retry with the same id: it exists
    assert again.status_code == 409, (again.status_code, again.text[:300])


# -- framework 500s the project cannot fix (outside its Params and routes) -----------------------------------

FRAMEWORK_500 = [
    pytest.param(
        {"logical_date": "9999-12-31T23:59:59Z"},
        id="logical_date_max",
        marks=pytest.mark.xfail(
            strict=True,
            reason="Airflow 3.3: the cron timetable's manual data interval for logical_date 9999-12-31T23:59:59Z "
            "overflows the datetime range (croniter, OverflowError: date value out of range; not handled): 500",
        ),
    ),
    pytest.param(
        {"logical_date": "0001-01-01T00:00:00Z"},
        id="logical_date_min",
        marks=pytest.mark.xfail(
            strict=True,
            reason="Airflow 3.3: the cron timetable's manual data interval for logical_date 0001-01-01T00:00:00Z "
            "underflows the datetime range (croniter, OverflowError: date value out of range; not handled): 500",
        ),
    ),
    pytest.param(
        {"dag_run_id": f"{PREFIX}nul\x00", "logical_date": None},
        id="nul_in_dag_run_id",
        marks=pytest.mark.xfail(
            strict=True,
            reason="Airflow 3.3's audit log (action_logging, run before the route and its run id pattern) stores the "
            "body's dag_run_id; psycopg2 refuses a NUL in a string (ValueError, not handled): 500",
        ),
    ),
    pytest.param(
        {"dag_run_id": f"{PREFIX}lone\ud800", "logical_date": None},
        id="lone_surrogate_in_dag_run_id",
        marks=pytest.mark.xfail(
            strict=True,
            reason="Airflow 3.3's audit log (action_logging, run before the route and its run id pattern) stores the "
            "body's dag_run_id; a lone surrogate cannot be encoded as UTF-8 (UnicodeEncodeError, not handled): 500",
        ),
    ),
]


@pytest.mark.parametrize("body", FRAMEWORK_500)
def test_framework_answers_below_500(fuzz: Fuzz, body: dict[str, Any]):
    r = fuzz.post(Case("framework", TRAIN, {"dag_run_id": f"{PREFIX}framework", **body}, "bad"))
    assert r.status_code < 500, (r.status_code, r.text[:300])


# -- the plugin's reports route through the real server ------------------------------------------------------

DAY = "2026-05-01"  # ingested by test_distributed_pipeline (its validation report exists if that ran first)
REPORT_KEYS = {  # key as sent on the wire (percent-encoding kept) -> the statuses allowed
    f"reports/validation/transactions/ds={DAY}/validation.json": (200, 404),
    "reports/validation/transactions/ds=2020-01-01/validation.json": (404,),
    "reports/../curated/transactions/ds=2026-05-01/part-0.parquet": (400,),
    "reports/%2e%2e/curated/transactions/ds=2026-05-01/part-0.parquet": (400,),
    "reports/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd": (400,),
    "..%2F..%2F..%2Fetc%2Fpasswd": (400,),
    "%2Fetc%2Fpasswd": (400,),
    "reports//validation/x.json": (400,),
    "reports/./validation/x.json": (400,),
    "reports%5C..%5Ccurated": (400,),
    "reports/validation/transactions/ds=2026-05-01/validation.json%00": (400,),
    # A newline: Starlette's Mount in front of the app answers 404 itself (as test_reports_hostile.py shows).
    "reports/validation/transactions/ds=2026-05-01/validation.json%0a": (400, 404),
    "reports/validation/transactions/ds=2026-05-01/validation.json%0d%0aX-Injected:%201": (400, 404),
    "reports/validation/transactions/ds=2026-05-01/validation.json/": (400,),
    "reports/" + "a" * 300 + ".json": (400,),
    "reports/validation/" + "a/" * 200 + "x.json": (400,),
    "curated/transactions/ds=2026-05-01/part-0.parquet": (404,),
    f"landing/transactions/ds={DAY}/part-0.parquet": (404,),
    "reports/secrets/transactions/ds=2026-05-01/validation.json": (404,),
    "reports/validation/transactions/ds=2026-05-01/validation.txt": (404,),
    "reports/validation/tr%C3%A4nsactions/ds=2026-05-01/validation.json": (404,),
    "reports/validation/%F0%9F%9A%80/ds=2026-05-01/validation.json": (404,),
    "reports/validation/%ED%A0%80/ds=2026-05-01/validation.json": (400, 404),  # an encoded lone surrogate
    "reports/validation/%FF%FE/ds=2026-05-01/validation.json": (400, 404),  # not UTF-8
    "reports/validation/%7B%7B%207*7%20%7D%7D/ds=2026-05-01/validation.json": (404,),
    "reports/validation/transactions/ds=2026-05-01/validation.json?x=../../etc/passwd": (200, 404),
    "quarantine/transactions/ds=2026-05-01/validation.json": (404,),
    "quarantine/transactions/ds=2026-05-01/part-0.parquet": (404,),
}


def _raw_get(stack: Stack, path: str, token: str | None) -> int:
    """GET ``path`` exactly as given (http.client does not remove dot segments, unlike requests/urllib3)."""
    url = urllib.parse.urlsplit(stack.api_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        return conn.getresponse().status
    finally:
        conn.close()


def test_reports_route_with_hostile_keys(fuzz: Fuzz):
    token = fuzz.stack.token()
    wrong = {}
    for key, allowed in REPORT_KEYS.items():
        status = _raw_get(fuzz.stack, f"/mlops/reports/{key}", token)
        fuzz.table[("reports key", status)] += 1
        if status not in allowed:
            wrong[key[:120]] = (status, allowed)
    assert not wrong, wrong
    for key in list(REPORT_KEYS)[:6]:  # no login: 401 before the key is looked at
        status = _raw_get(fuzz.stack, f"/mlops/reports/{key}", None)
        fuzz.table[("reports key, no token", status)] += 1
        assert status == 401, (key, status)
