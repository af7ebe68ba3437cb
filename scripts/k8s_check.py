"""Render the official Airflow Helm chart with deploy/kubernetes's values and check what it renders, offline.

    make k8s-check                          # CHART=../shared/helm/airflow-chart-1.21.0
    make k8s-check CHART=/path/to/airflow   # a chart from `helm pull apache-airflow/airflow --version X --untar`
    python scripts/k8s_check.py --chart /path/to/airflow [--variant celery|kubernetes]

No cluster, no network, no helm binary: helm-python-sdk (Helm v4's Go SDK) loads and renders the chart. Each variant
is rendered as release `mlops` in namespace `mlops`, as `helm install` would:

- celery:     -f values.yaml
- kubernetes: -f values.yaml -f values-kubernetes-executor.yaml --set-file podTemplate=pod_template.yaml
  (files merged as `helm -f a -f b` merges them: maps key by key, anything else replaced; podTemplate as a string)

and checked for:

- schema: the values, coalesced with the chart's defaults as Helm does, against the chart's values.schema.json
  (jsonschema, draft 7), each error named by the values file that sets the key (the SDK refuses to render them too);
- manifests: every rendered document against Kubernetes 1.33's JSON schemas with kubernetes-validate, strict
  (unknown fields fail);
- default passwords: a rendered Job or CronJob with a literal `--password` argument (or `-p` in an `airflow users`
  command, the chart's create-user hook) or a literal password env var, a Secret whose data decodes to a known
  default (DEFAULT_PASSWORDS) or to a URL carrying one, the NOTES printing a default login;
- deprecations: every "DEPRECATION WARNING" block of the rendered NOTES.txt;
- ignored keys (warnings): a key path of our values that the chart does not use, of two kinds:
  * unknown: not declared by values.schema.json (each segment found in the `properties` of the schema node reached
    so far, following $ref/allOf/anyOf/oneOf; a node that declares no `properties` but admits any key, such as
    `config` or `labels`, declares everything below it), and not read by the chart either: no template or file of
    the chart contains `.Values.<P>` where P is the key path or one of its prefixes below the declared part (a
    template reading an undeclared map as a whole reads its keys). An unknown key whose name is close to a declared
    sibling (difflib ratio >= TYPO_RATIO, e.g. `executer`) is an obvious typo and FAILS;
  * unread: declared by the schema, yet no template reads it: no `.Values.<P>` for the path nor for a prefix of it
    of two segments or more (`.Values.workers` alone is passed whole to helpers and proves nothing), and no
    free-form map above it. Schemas can lag behind templates: chart 1.21.0 declares
    `createUserJob.defaultUser.enabled` but reads `createUserJob.enabled`.

Exit status: 0 when no variant has a failure (warnings are listed), 1 when one has, 2 when the chart cannot be
loaded (the message says what to pass).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import difflib
import re
import shlex
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from helm_python import Chart

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "kubernetes"
DEFAULT_CHART = ROOT.parent / "shared" / "helm" / "airflow-chart-1.21.0"
RELEASE = "mlops"  # the manifests mount the chart's ConfigMap `<release>-config`
NAMESPACE = "mlops"
K8S_VERSION = "1.33.0"

# variant -> (values files, {value: file passed as a string, as --set-file does})
VARIANTS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "celery": (("values.yaml",), {}),
    "kubernetes": (("values.yaml", "values-kubernetes-executor.yaml"), {"podTemplate": "pod_template.yaml"}),
}

# what charts and tutorials ship as passwords; a rendered Secret or Job carrying one is a default login
DEFAULT_PASSWORDS = frozenset({"admin", "airflow", "postgres", "password", "change-me", "changeme", "redis", "root"})
TYPO_RATIO = 0.8
NOTES = "templates/NOTES.txt"
WORKLOAD_KINDS = {"Job", "CronJob"}


class ChartUnusable(Exception):
    """The --chart path is not a loadable Airflow chart; the message says what to pass."""


@dataclass(frozen=True)
class Finding:
    check: str  # schema | render | manifest | default-password | deprecation | typo | unknown-key | unread-key
    where: str  # the values file, or the rendered template
    key: str  # the values key path, or kind/name of the rendered object
    message: str
    failure: bool = True

    def line(self) -> str:
        return f"{'FAIL' if self.failure else 'warn'} {self.check}: {self.where}: {self.key}: {self.message}"


@dataclass
class Report:
    variant: str
    sources: tuple[str, ...]
    manifests: int = 0
    findings: list[Finding] = field(default_factory=list)
    documents: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (template, rendered object)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.failure]

    def of(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]


Source = tuple[str, dict[str, Any]]  # (label, values): a values file, or a --set-file value


# --- loading ------------------------------------------------------------------------------------------------------


def load_chart(path: Path) -> Chart:
    """The chart at ``path`` (a directory or .tgz), loaded by helm-python-sdk; ChartUnusable says what to pass."""
    try:
        import helm_python
    except ImportError as e:  # a dev dependency (requirements-dev.in)
        raise ChartUnusable(
            f"helm-python-sdk is not installed ({e}): `make venv` (requirements-dev.lock carries it)"
        ) from e
    hint = (
        "pass --chart <dir> (make k8s-check CHART=<dir>): the official chart as `helm pull apache-airflow/airflow "
        "--version X --untar` leaves it (Chart.yaml, values.schema.json, charts/postgresql-*.tgz), "
        f"e.g. {DEFAULT_CHART}"
    )
    if not path.exists():
        raise ChartUnusable(f"no chart at {path}: {hint}")
    if path.is_dir() and not (path / "Chart.yaml").is_file():
        raise ChartUnusable(f"{path} has no Chart.yaml: {hint}")
    try:
        chart = helm_python.Chart.load(path)
    except helm_python.HelmError as e:
        raise ChartUnusable(f"{path} does not load as a chart ({e}): {hint}") from e
    if chart.name != "airflow" or chart.schema is None:
        raise ChartUnusable(f"{path} is chart {chart.name!r} {chart.version} without the Airflow schema: {hint}")
    return chart


def helm_merge(base: Any, over: Any) -> Any:
    """`helm -f a -f b`: maps merge key by key, anything else (lists included) is replaced; null is kept, and
    Helm's coalescing with the chart's defaults then removes the key."""
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return copy.deepcopy(over)
    merged = copy.deepcopy(base)
    for key, value in over.items():
        merged[key] = helm_merge(merged[key], value) if key in merged else copy.deepcopy(value)
    return merged


def sources_of(variant: str, directory: Path = DEPLOY) -> list[Source]:
    files, set_files = VARIANTS[variant]
    sources: list[Source] = []
    for name in files:
        values = yaml.safe_load((directory / name).read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{directory / name}: a values file is a mapping, got {type(values).__name__}")
        sources.append((name, values))
    for key, name in set_files.items():
        sources.append((f"--set-file {key}={name}", {key: (directory / name).read_text()}))
    return sources


def merged_values(sources: Iterable[Source]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for _, values in sources:
        merged = helm_merge(merged, values)
    return merged


def _has_path(values: Any, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return False
        values = values[key]
    return True


def setter_of(sources: list[Source], path: tuple[str, ...], exact: bool = False) -> str:
    """The last source that sets ``path`` (the one whose value wins), else (unless ``exact``) the last one that sets
    its deepest parent; else the chart's default."""
    for n in range(len(path), len(path) - 1 if exact else 0, -1):
        for label, values in reversed(sources):
            if _has_path(values, path[:n]):
                return label
    return "chart default"


# --- the schema ---------------------------------------------------------------------------------------------------


def schema_errors(chart: Chart, sources: list[Source]) -> list[Finding]:
    """values.schema.json over the values coalesced with the chart's defaults (what Helm validates)."""
    import jsonschema

    coalesced = chart.merge_values(merged_values(sources))
    validator = jsonschema.Draft7Validator(chart.schema)
    findings = []
    for error in sorted(validator.iter_errors(coalesced), key=lambda e: [str(p) for p in e.absolute_path]):
        path = tuple(str(p) for p in error.absolute_path)
        key = ".".join(path) or "(top level)"
        findings.append(Finding("schema", setter_of(sources, path), key, error.message))
    return findings


FREE = "free-form"  # a schema node below which any key is declared


def _deref(schema: dict, node: Any) -> Any:
    """``node`` with its $ref (``#/definitions/...``) followed, as often as it takes."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/") and seen < 50:
        target: Any = schema
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node, seen = target, seen + 1
    return node


def _alternatives(schema: dict, node: Any) -> list[dict]:
    """``node`` and the branches of its allOf/anyOf/oneOf, dereferenced."""
    node = _deref(schema, node)
    if not isinstance(node, dict):
        return []
    found = [node]
    for keyword in ("allOf", "anyOf", "oneOf"):
        for branch in node.get(keyword, []):
            found += _alternatives(schema, branch)
    return found


def schema_child(schema: dict, node: Any, key: str) -> Any:
    """The schema of ``key`` under ``node``: a schema, FREE (anything goes below), or None (not declared)."""
    for alt in _alternatives(schema, node):
        if key in alt.get("properties", {}):
            return alt["properties"][key]
        for pattern, sub in alt.get("patternProperties", {}).items():
            if re.search(pattern, key):
                return sub
    for alt in _alternatives(schema, node):
        extra = alt.get("additionalProperties", True)
        if "properties" in alt:
            if isinstance(extra, dict) and extra:
                return extra
            continue
        if extra is not False:
            return FREE  # a map of anything: every key is declared
    return None


def declared_prefix(schema: dict, path: tuple[str, ...]) -> tuple[int, bool]:
    """(how many leading segments of ``path`` the schema declares, whether a free-form map covers the rest)."""
    node: Any = schema
    for depth, key in enumerate(path):
        node = schema_child(schema, node, key)
        if node is None:
            return depth, False
        if node is FREE:
            return len(path), True
    return len(path), False


def leaf_paths(values: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path down to a value that is not a non-empty map (lists, scalars, {} are leaves)."""
    for key, value in values.items():
        path = (*prefix, str(key))
        if isinstance(value, dict) and value:
            yield from leaf_paths(value, path)
        else:
            yield path


# --- ignored keys -------------------------------------------------------------------------------------------------

VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def values_references(chart: Chart) -> frozenset[str]:
    """Every `.Values.a.b.c` chain in the chart's templates and files (the pod template file is tpl'd)."""
    texts = [t["data"] for t in chart.templates] + [f["data"] for f in chart.files if f["name"].startswith("files/")]
    return frozenset(m.group(1)[1:] for text in texts for m in VALUES_REF.finditer(text))


def _typo_of(schema: dict, path: tuple[str, ...]) -> str | None:
    parent: Any = schema
    for key in path[:-1]:
        parent = schema_child(schema, parent, key)
    names = {k for alt in _alternatives(schema, parent) for k in alt.get("properties", {})}
    close = difflib.get_close_matches(path[-1], sorted(names), n=1, cutoff=TYPO_RATIO)
    return ".".join((*path[:-1], close[0])) if close else None


def ignored_keys(chart: Chart, sources: list[Source], refs: frozenset[str]) -> list[Finding]:
    schema = chart.schema or {}
    findings: list[Finding] = []
    for leaf in leaf_paths(merged_values(sources)):
        declared, free = declared_prefix(schema, leaf)
        dotted = [".".join(leaf[:n]) for n in range(len(leaf), 0, -1)]
        where = setter_of(sources, leaf)
        if declared < len(leaf):
            if any(p in refs for p in dotted[: len(leaf) - declared]):
                continue  # read by a template though the schema lacks it
            key = ".".join(leaf[: declared + 1])
            typo = _typo_of(schema, leaf[: declared + 1])
            if typo:
                findings.append(Finding("typo", where, key, f"not a key of the chart: did you mean {typo}?"))
            else:
                findings.append(Finding("unknown-key", where, key, "not in the chart's schema nor read", False))
        elif not free and not any(p in refs for p in dotted[: max(len(leaf) - 1, 1)]):
            message = "declared by the schema, read by no template: the chart ignores it"
            findings.append(Finding("unread-key", where, ".".join(leaf), message, False))
    return _dedup(findings)


def _dedup(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))


# --- rendering and the rendered manifests ------------------------------------------------------------------------


def render(chart: Chart, sources: list[Source]) -> tuple[dict[str, str], list[Finding]]:
    import helm_python

    try:
        rendered = chart.render(
            values=merged_values(sources), name=RELEASE, namespace=NAMESPACE, is_install=True, revision=1
        )
    except helm_python.HelmError as e:
        message = "; ".join(line.strip() for line in str(e).splitlines() if line.strip())
        return {}, [Finding("render", f"chart {chart.version}", type(e).__name__, message)]
    prefix = f"{chart.name}/"
    return {name.removeprefix(prefix): text for name, text in rendered.items()}, []


def documents(rendered: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """(template, object) of every rendered Kubernetes object (NOTES.txt is text, not a manifest)."""
    docs = []
    for name, text in sorted(rendered.items()):
        if name == NOTES or not name.endswith((".yaml", ".yml", ".json")):
            continue
        docs += [(name, doc) for doc in yaml.safe_load_all(text) if doc]
    return docs


def _kind_name(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def manifest_errors(docs: list[tuple[str, dict[str, Any]]]) -> list[Finding]:
    import kubernetes_validate

    findings = []
    for name, doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(p) for p in e.absolute_path) or "(object)"
            findings.append(Finding("manifest", name, _kind_name(doc), f"{where}: {e.message}"))
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.VersionNotSupportedError) as e:
            findings.append(Finding("manifest", name, _kind_name(doc), e.message))
    return findings


# --- default passwords --------------------------------------------------------------------------------------------

URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:([^@\s]*)@")


SECRET_ENV = re.compile(r"PASSWORD|PASSWD|SECRET", re.I)


def is_default_url(value: str) -> bool:
    """``value`` is a URL whose password (``scheme://user:<password>@host``) is a known default."""
    m = URL_PASSWORD.match(value.strip())
    return bool(m and m.group(1).lower() in DEFAULT_PASSWORDS)


def is_default_password(value: str) -> bool:
    """``value`` is a known default, or a URL whose password is one."""
    return value.strip().lower() in DEFAULT_PASSWORDS or is_default_url(value)


def _secret_values(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for key, value in (doc.get("stringData") or {}).items():
        yield key, str(value)
    for key, value in (doc.get("data") or {}).items():
        try:
            yield key, base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue  # binary data: no password text to compare


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc.get("spec") or {}
    if doc.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return (spec.get("template") or {}).get("spec") or {}


def _words(argv: list[Any]) -> list[str]:
    """The command line's words, shell scripts (`bash -c '...'`) split too."""
    words: list[str] = []
    for arg in (str(a).replace("\\\n", " ") for a in argv):  # a line continuation joins the lines
        try:
            words += shlex.split(arg) if any(c.isspace() for c in arg) else [arg]
        except ValueError:
            words += arg.split()
    return words


def password_arguments(argv: list[Any]) -> list[str]:
    """The literal passwords given on a command line: `--password X`, `--password=X`, and `-p X` in an
    `airflow users` command (where -p is the password; elsewhere it is often a port)."""
    words = _words(argv)
    users_command = any(a == "airflow" and b == "users" for a, b in zip(words, words[1:], strict=False))
    found = []
    for i, word in enumerate(words):
        if word.startswith("--password="):
            found.append(word.split("=", 1)[1])
        elif (word == "--password" or (word == "-p" and users_command)) and i + 1 < len(words):
            found.append(words[i + 1])
    return [p for p in found if not p.startswith("$")]  # "$AIRFLOW_PASSWORD" comes from the environment


def _workload_findings(name: str, doc: dict[str, Any]) -> Iterator[Finding]:
    spec = _pod_spec(doc)
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        where = f"{_kind_name(doc)} container {container.get('name')}"
        argv = [*(container.get("command") or []), *(container.get("args") or [])]
        for password in password_arguments(argv):
            known = " (a known default)" if is_default_password(password) else ""
            yield Finding("default-password", name, where, f"literal password argument {password!r}{known}")
        for var in container.get("env") or []:
            value = var.get("value")
            if isinstance(value, str) and value and (SECRET_ENV.search(var.get("name", "")) or is_default_url(value)):
                message = "a literal secret value (use valueFrom.secretKeyRef)"
                yield Finding("default-password", name, f"{where} env {var['name']}", message)


def _notes_login(notes: str) -> Iterator[Finding]:
    m = re.search(r"Default user \(Airflow UI\) Login credentials:\s*username: (\S*)\s*password: (\S*)", notes)
    if m:
        yield Finding("default-password", NOTES, "createUserJob", f"the chart creates the login {m[1]}/{m[2]}")


def default_passwords(docs: list[tuple[str, dict[str, Any]]], notes: str) -> list[Finding]:
    findings: list[Finding] = []
    for name, doc in docs:
        if doc.get("kind") in WORKLOAD_KINDS:
            findings += _workload_findings(name, doc)
        elif doc.get("kind") == "Secret":
            for key, value in _secret_values(doc):
                if is_default_password(value):
                    findings.append(Finding("default-password", name, f"{_kind_name(doc)}[{key}]", "a known default"))
    return findings + list(_notes_login(notes))


# --- NOTES --------------------------------------------------------------------------------------------------------


def notes_warnings(notes: str, sources: list[Source]) -> list[Finding]:
    """Each DEPRECATION WARNING block of the NOTES (a failure) and each other WARNING (a warning)."""
    findings = []
    for m in re.finditer(r"^[ #]*(DEPRECATION WARNING|WARNING):?(.*)\n((?:[ #]*\S.*\n?)*)", notes, re.M):
        text = " ".join(line.strip(" #") for line in [m[2], *m[3].splitlines()] if line.strip(" #"))
        named = re.search(r"`([A-Za-z][\w.]*)`", text)
        key = named[1] if named else "(none named)"
        where = f"{NOTES} ({setter_of(sources, tuple(key.split('.')), exact=True)})"
        deprecated = m[1] == "DEPRECATION WARNING"
        findings.append(Finding("deprecation" if deprecated else "notes-warning", where, key, text, deprecated))
    return findings


# --- one variant, the report --------------------------------------------------------------------------------------


def check(chart: Chart, variant: str, sources: list[Source], refs: frozenset[str] | None = None) -> Report:
    """Every check of one variant: its values (``sources``, in `-f` order) against ``chart``."""
    report = Report(variant, tuple(label for label, _ in sources))
    report.findings += schema_errors(chart, sources)
    rendered, errors = render(chart, sources)
    report.findings += errors
    docs = report.documents = documents(rendered)
    report.manifests = len(docs)
    notes = rendered.get(NOTES, "")
    report.findings += manifest_errors(docs)
    report.findings += default_passwords(docs, notes)
    report.findings += notes_warnings(notes, sources)
    report.findings += ignored_keys(chart, sources, values_references(chart) if refs is None else refs)
    return report


SECTIONS = (
    ("schema errors", ("schema",)),
    ("render errors", ("render",)),
    ("invalid manifests", ("manifest",)),
    ("default passwords", ("default-password",)),
    ("deprecations", ("deprecation",)),
    ("ignored keys", ("typo", "unknown-key", "unread-key")),
    ("other NOTES warnings", ("notes-warning",)),
)


def format_report(chart: Chart, report: Report) -> str:
    lines = [
        f"== {report.variant}: chart {chart.name} {chart.version} (appVersion {chart.metadata.get('appVersion')}), "
        f"release {RELEASE}, {' + '.join(report.sources)}",
        f"   manifests rendered: {report.manifests} (validated for Kubernetes {K8S_VERSION}, strict)",
    ]
    for title, checks in SECTIONS:
        found = [f for f in report.findings if f.check in checks]
        lines.append(f"   {title}: {len(found)}")
        lines += [f"     {f.line()}" for f in found]
    verdict = f"FAILED ({len(report.failures)} failures)" if report.failures else "ok"
    lines.append(f"   {report.variant}: {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--chart", type=Path, default=DEFAULT_CHART, help=f"chart directory (default {DEFAULT_CHART})")
    parser.add_argument("--variant", choices=sorted(VARIANTS), action="append", help="default: every variant")
    parser.add_argument("--values-dir", type=Path, default=DEPLOY, help=f"the values files (default {DEPLOY})")
    args = parser.parse_args(argv)
    try:
        chart = load_chart(args.chart)
    except ChartUnusable as e:
        print(f"k8s-check: {e}", file=sys.stderr)
        return 2
    refs = values_references(chart)
    reports = [check(chart, v, sources_of(v, args.values_dir), refs) for v in args.variant or sorted(VARIANTS)]
    print("\n".join(format_report(chart, r) for r in reports))
    failed = [r.variant for r in reports if r.failures]
    print(f"k8s-check: {'FAILED: ' + ', '.join(failed) if failed else 'ok'} (chart {chart.version} at {args.chart})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
