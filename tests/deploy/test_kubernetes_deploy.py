"""deploy/kubernetes agrees with the official Helm chart, with Kubernetes' own schemas and with the code.

Like tests/integration/test_compose_contract.py for docker-compose.yaml, nothing here needs a cluster, helm or the
network:

- the chart, rendered: scripts/k8s_check.py (`make k8s-check`) renders the official chart offline (helm-python-sdk)
  with values.yaml (Celery) and with values.yaml + values-kubernetes-executor.yaml + podTemplate (KubernetesExecutor),
  validates the values against the chart's values.schema.json and every rendered manifest with kubernetes-validate
  (strict, K8S_VERSION), and fails on a default password in a rendered Job or Secret, on a DEPRECATION WARNING in
  the NOTES and on an obvious typo; ignored keys are listed as warnings. Both variants must pass with no warning,
  the rendered objects must carry what the values ask (the worker keys moved to workers.celery, no create-user hook,
  the pod template), and a mutation per check (a values copy with createUserJob.enabled: true, a deprecated key, a
  schema-violating value, a manifest-breaking value, a typo) proves each one fails. The chart is test data kept
  outside the repository: MLOPS_HELM_CHART=<dir>, default ../shared/helm/airflow-chart-1.21.0 (DEFAULT_CHART); when
  it is missing these tests FAIL and say where to put it. Each variant is rendered once per session (~1 s a render);
- the values' structure without the chart: top-level keys, the parts the chart types as Kubernetes objects
  (volumes, volumeMounts, env, resources) against the Kubernetes JSON schema of that object;
- every manifest of deploy/kubernetes and pod_template.yaml against the Kubernetes JSON schemas of K8S_VERSION
  (strict: unknown fields fail), bundled by the kubernetes-validate package;
- a contract with the code: MLOPS_CONFIG is the mounted ConfigMap key and that key holds
  include/config/mlops.compose.yaml; the config's connection ids are AIRFLOW_CONN_* from Secrets; the init Job
  creates the pool named by PROMOTION_POOL with one slot; the buckets are the compose stack's; every secret the code
  reads and every Secret/key referenced exists in secrets.example.yaml with placeholder values; the run id pattern
  is the compose one; train_challenger is routed to its own resources. test_a_drift_is_caught mutates a copy of the
  parsed files and proves each check fails when its side drifts.

`python tests/deploy/test_kubernetes_deploy.py --write-configmap` regenerates pipeline-config.yaml from the config.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import sys
import types
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import k8s_check

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
CONFIG_SOURCE = ROOT / "include" / "config" / "mlops.compose.yaml"  # what the ConfigMap carries, verbatim

# The chart the check renders: the newest released one of ../shared/helm (its README), or MLOPS_HELM_CHART.
DEFAULT_CHART = k8s_check.DEFAULT_CHART  # ../shared/helm/airflow-chart-1.21.0
CHART_ENV = "MLOPS_HELM_CHART"

K8S_VERSION = k8s_check.K8S_VERSION  # the Kubernetes version whose JSON schemas the manifests are validated against

IMAGE_ROOT = "/usr/local/airflow"  # where the Dockerfile puts the project
VALUES_FILES = {variant: files for variant, (files, _) in k8s_check.VARIANTS.items()}
MANIFEST_FILES = ("pipeline-config.yaml", "mlflow.yaml", "airflow-init-job.yaml", "training-worker.yaml")
SECRETS_FILE = "secrets.example.yaml"  # pragma: allowlist secret
POD_TEMPLATE_FILE = "pod_template.yaml"
PLACEHOLDER = "change-me"

pytestmark = pytest.mark.unit


def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def values_of(variant: str) -> dict:
    """The variant's values files merged as `helm -f a -f b` merges them (k8s_check.helm_merge)."""
    merged: dict = {}
    for name in VALUES_FILES[variant]:
        merged = k8s_check.helm_merge(merged, yaml.safe_load((DEPLOY / name).read_text()))
    return merged


# --- the chart, rendered (scripts/k8s_check.py) ---------------------------------------------------------------


def chart_path() -> Path:
    """MLOPS_HELM_CHART (relative to the repository's root), else DEFAULT_CHART."""
    return ROOT / os.environ[CHART_ENV] if os.environ.get(CHART_ENV) else DEFAULT_CHART


@cache
def _chart():
    path = chart_path()
    if not (path / "Chart.yaml").is_file():
        pytest.fail(
            f"no Airflow Helm chart at {path}: these tests render it. Put the chart there (the repository's sibling "
            f"../shared/helm/ holds it in CI) or set {CHART_ENV}=<dir> to a chart from "
            "`helm pull apache-airflow/airflow --version 1.21.0 --untar`",
            pytrace=False,
        )
    return k8s_check.load_chart(path)


@cache
def _refs() -> frozenset[str]:
    return k8s_check.values_references(_chart())


@cache
def report_of(variant: str) -> k8s_check.Report:
    """The check of deploy/kubernetes's values, rendered once per session."""
    return k8s_check.check(_chart(), variant, k8s_check.sources_of(variant), _refs())


def _rendered(variant: str) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for _, d in report_of(variant).documents}


def _mutated_report(mutate: Callable[[dict], None], variant: str = "celery") -> k8s_check.Report:
    sources = copy.deepcopy(k8s_check.sources_of(variant))
    mutate(sources[0][1])  # values.yaml's copy
    return k8s_check.check(_chart(), variant, sources, _refs())


@pytest.mark.parametrize("variant", sorted(VALUES_FILES))
def test_the_chart_renders_our_values_cleanly(variant: str):
    report = report_of(variant)
    assert report.manifests > 0
    assert report.findings == [], "\n".join(f.line() for f in report.findings)
    assert k8s_check.format_report(_chart(), report).endswith(f"{variant}: ok")


def test_the_rendered_chart_does_what_the_values_ask():
    celery, kubernetes = _rendered("celery"), _rendered("kubernetes")
    values = values_of("celery")
    worker = celery[("Deployment", "mlops-worker")]  # a Deployment: workers.celery.persistence.enabled is false
    assert worker["spec"]["replicas"] == values["workers"]["celery"]["replicas"]
    assert worker["spec"]["template"]["spec"]["containers"][0]["resources"] == values["workers"]["celery"]["resources"]
    assert ("StatefulSet", "mlops-worker") not in celery
    for rendered in (celery, kubernetes):
        assert not [key for key in rendered if "create-user" in key[1]], "the chart's create-user hook is off"
        assert ("Job", "mlops-run-airflow-migrations") in rendered, "the chart migrates the DB (the init Job waits)"
        image = rendered[("Deployment", "mlops-scheduler")]["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"{values['defaultAirflowRepository']}:{values['defaultAirflowTag']}"
    assert not [key for key in kubernetes if key[1] == "mlops-worker"], "no Celery worker with the KubernetesExecutor"
    pod_template = kubernetes[("ConfigMap", "mlops-config")]["data"]["pod_template_file.yaml"]
    assert yaml.safe_load(pod_template) == _docs(POD_TEMPLATE_FILE)[0], "podTemplate is pod_template.yaml's text"


def test_the_values_name_the_locked_airflow():
    pin = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.lock").read_text(), re.M).group(1)
    values = values_of("celery")
    assert values["airflowVersion"] == pin, f"airflowVersion {values['airflowVersion']} != requirements.lock {pin}"
    assert values["defaultAirflowTag"].startswith(f"{pin}-"), values["defaultAirflowTag"]
    assert values["images"]["airflow"]["tag"] == values["defaultAirflowTag"]


def _finding(report: k8s_check.Report, check: str, key: str) -> k8s_check.Finding:
    found = [f for f in report.findings if f.check == check and f.key == key]
    assert found, f"no {check} finding for {key}:\n" + "\n".join(f.line() for f in report.findings)
    return found[0]


def test_a_default_password_is_caught():
    report = _mutated_report(lambda v: v["createUserJob"].update(enabled=True, serviceAccount={"create": True}))
    job = _finding(report, "default-password", "Job/mlops-create-user container create-user")
    assert job.failure and job.where == "templates/jobs/create-user-job.yaml"
    assert job.message == "literal password argument 'admin' (a known default)"
    assert _finding(report, "default-password", "createUserJob").where == k8s_check.NOTES
    assert {f.check for f in report.failures} == {"default-password"}


def test_a_deprecated_key_fails_the_command(tmp_path, capsys):
    """End to end through the command line, on a copy of deploy/kubernetes with a deprecated key."""
    for path in DEPLOY.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    values = yaml.safe_load((tmp_path / "values.yaml").read_text())
    values["workers"]["replicas"] = 3
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    argv = ["--chart", str(chart_path()), "--values-dir", str(tmp_path), "--variant", "celery"]
    assert k8s_check.main(argv) == 1
    out = capsys.readouterr().out
    assert (
        "FAIL deprecation: templates/NOTES.txt (values.yaml): workers.replicas: `workers.replicas` has been renamed "
        "to `workers.celery.replicas`." in out
    ), out
    assert "k8s-check: FAILED: celery" in out


def test_a_schema_violation_is_caught_with_its_key():
    report = _mutated_report(lambda v: v["workers"]["celery"].update(replicas="two"))
    error = _finding(report, "schema", "workers.celery.replicas")
    assert (error.where, error.message, error.failure) == (
        "values.yaml",
        "'two' is not of type 'integer', 'null'",
        True,
    )
    assert report.of("render") and report.manifests == 0, "the chart refuses such values as `helm` does"


def test_a_manifest_breaking_value_is_caught():
    """extraEnv is a string the chart pastes into every Airflow container: the schema cannot see inside it."""
    report = _mutated_report(lambda v: v.update(extraEnv="- name: X\n  valueFrom: {configMapRef: {name: x}}\n"))
    assert not report.of("schema") and not report.of("render")
    invalid = report.of("manifest")
    assert {f.key for f in invalid} >= {"Deployment/mlops-scheduler", "Deployment/mlops-worker"}
    scheduler = _finding(report, "manifest", "Deployment/mlops-scheduler")
    assert scheduler.where == "templates/scheduler/scheduler-deployment.yaml" and scheduler.failure
    assert "valueFrom: Additional properties are not allowed ('configMapRef' was unexpected)" in scheduler.message


def test_ignored_keys_are_listed_and_a_typo_fails():
    def mutate(v: dict) -> None:
        v.update(executer="CeleryExecutor", mlopsNote="x")  # top-level extras pass the chart's schema
        v["createUserJob"]["defaultUser"] = {"enabled": False}  # the key this repository once relied on

    report = _mutated_report(mutate)
    typo = _finding(report, "typo", "executer")
    assert typo.failure and typo.message == "not a key of the chart: did you mean executor?"
    assert not _finding(report, "unknown-key", "mlopsNote").failure
    unread = _finding(report, "unread-key", "createUserJob.defaultUser.enabled")
    assert not unread.failure and unread.where == "values.yaml"
    assert [f.check for f in report.failures] == ["typo"]


def _job(kind: str, name: str, args: list[str]) -> dict:
    pod = {"spec": {"containers": [{"name": "c", "args": args}]}}
    spec = {"jobTemplate": {"spec": {"template": pod}}} if kind == "CronJob" else {"template": pod}
    return {"kind": kind, "metadata": {"name": name}, "spec": spec}


def test_default_passwords_in_rendered_objects():
    """What the chart could render, built by hand: which Jobs and Secrets carry a default password."""
    encoded = base64.b64encode(b"postgres").decode()
    docs = [
        ("t.yaml", {"kind": "Secret", "metadata": {"name": "b64"}, "data": {"password": encoded, "blob": "//79"}}),
        ("t.yaml", {"kind": "Secret", "metadata": {"name": "url"}, "stringData": {"c": "redis://:redis@r:6379/0"}}),
        ("t.yaml", {"kind": "Secret", "metadata": {"name": "ok"}, "stringData": {"c": "redis://:Zq9@r:6379/0"}}),
        ("t.yaml", _job("Job", "long-flag", ["airflow", "connections", "add", "x", "--password=hunter2"])),
        ("t.yaml", _job("CronJob", "users", ["bash", "-c", "exec \\\nairflow users create -u a -p admin"])),
        ("t.yaml", _job("Job", "port", ["bash", "-c", "pg_isready -h db -p 5432"])),  # -p is a port here
        ("t.yaml", _job("Job", "from-env", ["airflow", "users", "create", "-p", "$ADMIN_PASSWORD"])),
    ]
    found = {(f.key, f.message) for f in k8s_check.default_passwords(docs, notes="")}
    assert found == {
        ("Secret/b64[password]", "a known default"),
        ("Secret/url[c]", "a known default"),
        ("Job/long-flag container c", "literal password argument 'hunter2'"),
        ("CronJob/users container c", "literal password argument 'admin' (a known default)"),
    }


@pytest.mark.parametrize(
    ("chart", "says"),
    [("missing", "no chart at"), ("empty", "has no Chart.yaml"), ("not-airflow", "without the Airflow schema")],
)
def test_a_bad_chart_path_says_what_to_pass(tmp_path, capsys, chart: str, says: str):
    path = tmp_path / chart
    if chart != "missing":
        path.mkdir()
    if chart == "not-airflow":
        (path / "Chart.yaml").write_text("apiVersion: v2\nname: other\nversion: 0.1.0\n")
    assert k8s_check.main(["--chart", str(path)]) == 2
    err = capsys.readouterr().err
    assert says in err and "pass --chart <dir>" in err and "helm pull apache-airflow/airflow" in err, err


# The chart's top-level values these files may set (the chart's parameters reference); a typo fails here even
# without the schema.
CHART_TOP_LEVEL = {
    "airflowVersion", "defaultAirflowRepository", "defaultAirflowTag", "images", "executor", "postgresql", "redis",
    "data", "fernetKeySecretName", "apiSecretKeySecretName", "jwtSecretName", "env", "secret", "extraEnvFrom",
    "extraSecrets", "extraConfigMaps", "volumes", "volumeMounts", "config", "airflowLocalSettings", "scheduler",
    "dagProcessor", "triggerer", "apiServer", "workers", "statsd", "migrateDatabaseJob", "createUserJob", "logs",
    "dags", "podTemplate", "pgbouncer", "flower", "ingress", "networkPolicies", "labels", "nodeSelector",
    "tolerations", "affinity", "securityContexts", "uid", "gid",
}  # fmt: skip
COMPONENTS = ("scheduler", "dagProcessor", "triggerer", "apiServer", "workers", "statsd", "migrateDatabaseJob")


def component_resources(values: dict, component: str) -> dict:
    """A component's resources; the Celery workers' are under workers.celery (workers.resources is deprecated)."""
    return (values["workers"]["celery"] if component == "workers" else values[component])["resources"]


EXECUTORS = {"CeleryExecutor", "KubernetesExecutor", "CeleryExecutor,KubernetesExecutor", "CeleryKubernetesExecutor"}


@cache
def _k8s_definitions() -> tuple[Any, dict]:
    from importlib.resources import files

    from referencing import Registry, Resource

    path = (
        files("kubernetes_validate") / "kubernetes-json-schema" / f"v{K8S_VERSION}-local-strict" / "_definitions.json"
    )
    definitions = json.loads(path.read_text())
    return Registry().with_resource(definitions["$id"], Resource.from_contents(definitions)), definitions


def k8s_object_errors(instance: Any, definition: str) -> list[str]:
    """Errors of ``instance`` as the Kubernetes object ``definition`` (e.g. io.k8s.api.core.v1.Volume), strict."""
    import jsonschema

    registry, definitions = _k8s_definitions()
    assert definition in definitions["$defs"], definition
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://kubernetes.io/api/values-part.json",
        "$ref": f"/api/_definitions.json#/$defs/{definition}",
    }
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(instance)]


@pytest.mark.parametrize("variant", sorted(VALUES_FILES))
def test_values_structure(variant: str):
    values = values_of(variant)
    unknown = sorted(set(values) - CHART_TOP_LEVEL)
    assert not unknown, f"not top-level values of the chart: {unknown}"
    assert values["executor"] in EXECUTORS, values["executor"]
    for key in ("airflowVersion", "defaultAirflowTag", "defaultAirflowRepository"):
        assert isinstance(values[key], str), key
    assert set(values["images"]["airflow"]) <= {"repository", "tag", "digest", "pullPolicy"}
    errors: list[str] = []
    for i, volume in enumerate(values.get("volumes", [])):
        errors += [f"volumes[{i}] {e}" for e in k8s_object_errors(volume, "io.k8s.api.core.v1.Volume")]
    for i, mount in enumerate(values.get("volumeMounts", [])):
        errors += [f"volumeMounts[{i}] {e}" for e in k8s_object_errors(mount, "io.k8s.api.core.v1.VolumeMount")]
    for i, var in enumerate(values.get("env", [])):
        errors += [f"env[{i}] {e}" for e in k8s_object_errors(var, "io.k8s.api.core.v1.EnvVar")]
    for component in COMPONENTS:
        resources = component_resources(values, component)
        errors += [
            f"{component}.resources {e}"
            for e in k8s_object_errors(resources, "io.k8s.api.core.v1.ResourceRequirements")
        ]
    assert not errors, "\n".join(errors)
    for entry in values["secret"]:
        assert set(entry) == {"envName", "secretName", "secretKey"} and all(isinstance(v, str) for v in entry.values())
    for section, options in values["config"].items():
        assert isinstance(options, dict), section
        assert all(isinstance(v, str | int | float | bool) for v in options.values()), section
    assert isinstance(values["airflowLocalSettings"], str)
    compile(values["airflowLocalSettings"], "airflow_local_settings.py", "exec")


# --- Kubernetes' schemas ----------------------------------------------------------------------------------------


def _manifests() -> Iterator[tuple[str, dict]]:
    for name in (*MANIFEST_FILES, SECRETS_FILE, POD_TEMPLATE_FILE):
        for doc in _docs(name):
            yield name, doc


@pytest.mark.parametrize(
    ("name", "doc"), [pytest.param(n, d, id=f"{n}:{d['kind']}/{d['metadata']['name']}") for n, d in _manifests()]
)
def test_manifest_validates_against_the_kubernetes_schema(name: str, doc: dict):
    import kubernetes_validate

    try:
        validated = kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']} is not valid for Kubernetes {K8S_VERSION}: {e}")
    assert validated == K8S_VERSION.rsplit(".", 1)[0]


def test_kustomization_applies_every_manifest():
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["resources"] == list(MANIFEST_FILES)
    listed = {*MANIFEST_FILES, SECRETS_FILE, POD_TEMPLATE_FILE, "kustomization.yaml", "README.md"}
    listed |= {name for files in VALUES_FILES.values() for name in files}
    assert {p.name for p in DEPLOY.iterdir()} == listed, "a file in deploy/kubernetes that no test reads"
    assert SECRETS_FILE not in kustomization["resources"], "the placeholder Secrets are never applied as they are"


# --- the contract with the code --------------------------------------------------------------------------------


def bundle(variant: str) -> dict:
    """Everything the contract reads, parsed; the mutation test changes a copy of it."""
    docs = {(d["kind"], d["metadata"]["name"]): d for name in MANIFEST_FILES for d in _docs(name)}
    secrets = {d["metadata"]["name"]: d.get("stringData", {}) for d in _docs(SECRETS_FILE)}
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    return {
        "variant": variant,
        "values": values_of(variant),
        "docs": docs,
        "pod_template": _docs(POD_TEMPLATE_FILE)[0],
        "secrets": secrets,
        "config_text": CONFIG_SOURCE.read_text(),
        "names_source": (ROOT / "plugins" / "mlops_airflow" / "names.py").read_text(),
        "compose": compose,
    }


def _pod_specs(b: dict) -> dict[str, dict]:
    """The pod specs that run project code outside the chart: name -> spec."""
    specs = {
        f"{kind}/{name}": doc["spec"]["template"]["spec"]
        for (kind, name), doc in b["docs"].items()
        if kind in {"Deployment", "Job"} and name != "mlflow"
    }
    if b["variant"] == "kubernetes":
        specs["pod_template"] = b["pod_template"]["spec"]
    return specs


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def _config_text_of_configmap(b: dict, name: str, key: str) -> str:
    doc = b["docs"].get(("ConfigMap", name))
    assert doc is not None, f"no ConfigMap {name} in {MANIFEST_FILES}"
    assert key in doc["data"], f"ConfigMap {name} has no key {key!r} (MLOPS_CONFIG names it)"
    return doc["data"][key]


def _mounted_configmap(volumes: list[dict], mounts: list[dict], path: str) -> tuple[str, str]:
    """(ConfigMap name, key) that a file path resolves to through these mounts; fails when none does."""
    for mount in mounts:
        directory = mount["mountPath"].rstrip("/")
        if path.startswith(directory + "/") and "subPath" not in mount:
            (volume,) = [v for v in volumes if v["name"] == mount["name"]] or [None]
            assert volume and "configMap" in volume, f"{path}: mounted from {mount['name']}, not a ConfigMap volume"
            return volume["configMap"]["name"], path[len(directory) + 1 :]
    raise AssertionError(f"MLOPS_CONFIG={path}: no volumeMount puts a ConfigMap there")


def check_config_path(b: dict) -> None:
    values = b["values"]
    (path,) = [e["value"] for e in values["env"] if e["name"] == "MLOPS_CONFIG"] or [None]
    assert path, "values.yaml env sets no MLOPS_CONFIG"
    assert path.startswith(IMAGE_ROOT + "/include/config/"), f"MLOPS_CONFIG={path}: outside the image's include/config"
    name, key = _mounted_configmap(values.get("volumes", []), values.get("volumeMounts", []), path)
    text = _config_text_of_configmap(b, name, key)
    assert text == b["config_text"], (
        f"ConfigMap {name}[{key}] differs from {CONFIG_SOURCE.relative_to(ROOT)}: "
        "run `python tests/deploy/test_kubernetes_deploy.py --write-configmap`"
    )
    for where, spec in _pod_specs(b).items():
        (container,) = [c for c in spec["containers"] if c["name"] in {"base", "worker", "airflow-init"}]
        assert _env(container).get("MLOPS_CONFIG", {}).get("value") == path, f"{where}: MLOPS_CONFIG != {path}"
        assert _mounted_configmap(spec.get("volumes", []), container.get("volumeMounts", []), path) == (name, key), (
            f"{where}: MLOPS_CONFIG is not the ConfigMap {name}[{key}]"
        )
    _config(text)  # what the ConfigMap carries is a valid config


def _config(config_text: str):
    """The pipeline config the ConfigMap carries, loaded by the code's own loader."""
    import tempfile

    from include.mlops.core.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mlops.yaml"
        path.write_text(config_text)
        return load_config(path)


def _conn_ids(config_text: str) -> dict[str, str]:
    """The connections the code reads: conn id -> conn_type."""
    cfg = _config(config_text)
    conns = {cfg.mlflow.conn_id: "http", cfg.lake.aws_conn_id: "aws"}
    defaults = {"slack": "slack_api_default", "smtp": "smtp_default"}
    for notifier in cfg.notifications.on_failure:
        if notifier.kind in defaults:
            conns[notifier.conn_id or defaults[notifier.kind]] = notifier.kind
    return conns


def _secret_value(b: dict, name: str, key: str) -> str:
    assert name in b["secrets"], f"Secret {name} is referenced but not in {SECRETS_FILE}"
    assert key in b["secrets"][name], f"Secret {name} has no key {key!r} in {SECRETS_FILE}"
    return b["secrets"][name][key]


def check_connections(b: dict) -> None:
    from_secrets = {e["envName"]: e for e in b["values"]["secret"]}
    for conn_id, conn_type in _conn_ids(b["config_text"]).items():
        var = f"AIRFLOW_CONN_{conn_id.upper()}"
        assert var in from_secrets, f"values.yaml `secret` gives no {var} (connection {conn_id!r} of the config)"
        entry = from_secrets[var]
        conn = json.loads(_secret_value(b, entry["secretName"], entry["secretKey"]))
        assert conn["conn_type"] == conn_type, (var, conn)
        for where, spec in _pod_specs(b).items():
            env = {k: v for c in spec["containers"] for k, v in _env(c).items()}
            assert var in env, f"{where}: no {var}"
            ref = env[var]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (entry["secretName"], entry["secretKey"]), f"{where}: {var} {ref}"
    mlflow_entry = from_secrets[f"AIRFLOW_CONN_{_config(b['config_text']).mlflow.conn_id.upper()}"]
    mlflow = json.loads(_secret_value(b, mlflow_entry["secretName"], mlflow_entry["secretKey"]))
    service = b["docs"][("Service", "mlflow")]
    url = f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    assert mlflow["host"] == url, f"connection mlflow_default: host {mlflow['host']}, the MLflow Service is {url}"


def _promotion_pool(names_source: str) -> str:
    m = re.search(r'^PROMOTION_POOL = "([^"]+)"', names_source, re.M)
    assert m, "PROMOTION_POOL is no longer defined in plugins/mlops_airflow/names.py"
    return m.group(1)


def check_pool(b: dict) -> None:
    pool = _promotion_pool(b["names_source"])
    job = b["docs"][("Job", "mlops-airflow-init")]
    command = "\n".join(job["spec"]["template"]["spec"]["containers"][0]["command"])
    m = re.search(rf"^airflow pools set {re.escape(pool)} (\d+) ", command, re.M)
    assert m, f"the init Job does not create the pool {pool!r} (PROMOTION_POOL):\n{command}"
    assert int(m.group(1)) == 1, "one promotion at a time"
    for conn_id in _conn_ids(b["config_text"]):
        assert f"airflow connections get {conn_id} " in command, f"the init Job does not check {conn_id}"


def _bucket(url: str) -> str:
    assert url.startswith("s3://"), url
    return url[len("s3://") :].split("/", 1)[0]


def check_buckets(b: dict) -> None:
    cfg = yaml.safe_load(b["config_text"])
    lake_bucket = _bucket(cfg["lake"]["root"])
    assert _bucket(b["values"]["config"]["logging"]["remote_base_log_folder"]) == lake_bucket, "task logs: lake bucket"
    assert b["values"]["config"]["logging"]["remote_log_conn_id"] == cfg["lake"]["aws_conn_id"]
    args = b["docs"][("Deployment", "mlflow")]["spec"]["template"]["spec"]["containers"][0]["args"]
    artifacts = _bucket(args[args.index("--artifacts-destination") + 1])
    compose_mlflow = "\n".join(b["compose"]["services"]["mlflow"]["command"])
    compose_artifacts = re.search(r"--artifacts-destination\s+(s3://\S+)", compose_mlflow).group(1)
    assert artifacts == _bucket(compose_artifacts), f"MLflow artifacts in {artifacts}, compose: {compose_artifacts}"
    created = "\n".join(b["compose"]["services"]["minio-init"]["command"])
    for bucket in (lake_bucket, artifacts):
        assert f"local/{bucket}" in created, f"{bucket} is not a bucket of the compose stack"


def _secret_refs(b: dict) -> Iterator[tuple[str, str, str]]:
    """(where, secret, key) of every reference to a Secret in the values and the manifests."""
    values = b["values"]
    for key, secret_key in (("metadataSecretName", "connection"), ("resultBackendSecretName", "connection")):
        yield f"data.{key}", values["data"][key], secret_key
    if "Celery" in values["executor"]:
        yield "data.brokerUrlSecretName", values["data"]["brokerUrlSecretName"], "connection"
    yield "fernetKeySecretName", values["fernetKeySecretName"], "fernet-key"
    yield "apiSecretKeySecretName", values["apiSecretKeySecretName"], "api-secret-key"
    yield "jwtSecretName", values["jwtSecretName"], "jwt-secret"
    for entry in values["secret"]:
        yield f"secret {entry['envName']}", entry["secretName"], entry["secretKey"]
    specs = {**_pod_specs(b), "Deployment/mlflow": b["docs"][("Deployment", "mlflow")]["spec"]["template"]["spec"]}
    specs["pod_template"] = b["pod_template"]["spec"]
    for where, spec in specs.items():
        for container in spec["containers"]:
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    yield f"{where} {var['name']}", ref["name"], ref["key"]
            assert not any("secretRef" in e for e in container.get("envFrom", [])), f"{where}: name the keys"


def check_secrets(b: dict) -> None:
    from mlops_airflow.metrics import TOKEN_ENV

    for where, secret, key in _secret_refs(b):
        assert secret in b["secrets"], f"{where}: Secret {secret} is not in {SECRETS_FILE}"
        assert key in b["secrets"][secret], f"{where}: Secret {secret} has no key {key!r} in {SECRETS_FILE}"
    # the scrape token of /mlops/metrics, which the API server reads from its environment
    assert TOKEN_ENV in {e["envName"] for e in b["values"]["secret"]}, f"no {TOKEN_ENV} from a Secret"
    # nothing secret in the values themselves
    text = json.dumps(b["values"])
    assert not re.search(r"://[^/\s:@\"]*:[^@\s\"]+@", text), "a URL with credentials in the values"
    for key in ("fernetKey", "apiSecretKey", "jwtSecret", "webserverSecretKey"):
        assert not b["values"].get(key), f"{key} set literally: use {key}SecretName"
    # placeholders only in the example Secrets (the MLflow connection and the admin's name carry no secret)
    public = {
        ("mlops-airflow-connections", "AIRFLOW_CONN_MLFLOW_DEFAULT"),
        ("mlops-airflow-admin", "AIRFLOW_ADMIN_USERNAME"),
    }
    for secret, data in b["secrets"].items():
        for key, value in data.items():
            assert (secret, key) in public or PLACEHOLDER in value, (
                f"{SECRETS_FILE}: {secret}[{key}] is not a {PLACEHOLDER}"
            )


def check_run_id_pattern(b: dict) -> None:
    from mlops_dev.stack import RUN_ID_PATTERN

    pattern = b["values"]["config"]["scheduler"]["allowed_run_id_pattern"]
    assert pattern == RUN_ID_PATTERN, f"allowed_run_id_pattern {pattern!r} != compose's {RUN_ID_PATTERN!r}"
    compose_env = b["compose"]["x-airflow-common"]["environment"]
    assert compose_env["AIRFLOW__SCHEDULER__ALLOWED_RUN_ID_PATTERN"] == pattern


def check_components(b: dict) -> None:
    values = b["values"]
    expected = {"celery": "CeleryExecutor", "kubernetes": "KubernetesExecutor"}[b["variant"]]
    assert values["executor"] == expected, values["executor"]
    assert values["postgresql"]["enabled"] is False and values["redis"]["enabled"] is False, "external DB and broker"
    assert values["statsd"]["enabled"] is True, "StatsD metrics"
    assert values["triggerer"]["enabled"] is True and values["dagProcessor"]["enabled"] is True
    assert values["airflowVersion"].startswith("3."), "Airflow 3: the apiServer, not the webserver"
    for component in COMPONENTS:
        resources = component_resources(values, component)
        assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"], (
            f"{component}: requests and a memory limit"
        )
    image = f"{values['images']['airflow']['repository']}:{values['images']['airflow']['tag']}"
    assert values["defaultAirflowRepository"] == values["images"]["airflow"]["repository"]
    specs = {**_pod_specs(b), "Deployment/mlflow": b["docs"][("Deployment", "mlflow")]["spec"]["template"]["spec"]}
    for where, spec in specs.items():
        for container in spec["containers"]:
            assert container["image"] == image, f"{where}: image {container['image']} != {image} (values.yaml)"


class _K8sModel:
    """Stands in for a kubernetes.client model: keeps its keyword arguments."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)


def _apply_task_policy(local_settings: str, dag_id: str, task_id: str) -> types.SimpleNamespace:
    fake = types.ModuleType("kubernetes.client.models")
    for name in ("V1Pod", "V1PodSpec", "V1Container", "V1ResourceRequirements"):
        setattr(fake, name, type(name, (_K8sModel,), {}))
    client = types.ModuleType("kubernetes.client")
    client.models = fake  # type: ignore[attr-defined]
    modules = {"kubernetes": types.ModuleType("kubernetes"), "kubernetes.client": client}
    modules["kubernetes.client.models"] = fake
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        namespace: dict[str, Any] = {}
        exec(compile(local_settings, "airflow_local_settings.py", "exec"), namespace)
        task = types.SimpleNamespace(dag_id=dag_id, task_id=task_id, queue="default", executor_config={})
        namespace["task_policy"](task)
        return task
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def check_training_route(b: dict) -> None:
    dag_id = re.search(r'^TRAINING_DAG_ID = "([^"]+)"', b["names_source"], re.M).group(1)
    task_id = "train_challenger"
    assert f'task_id="{task_id}"' in (ROOT / "dags" / "train_and_promote.py").read_text(), f"no task {task_id}"
    local_settings = b["values"]["airflowLocalSettings"]
    other = _apply_task_policy(local_settings, dag_id, "evaluate_challenger")
    assert other.queue == "default" and other.executor_config == {}, "only training is routed"
    task = _apply_task_policy(local_settings, dag_id, task_id)
    if b["variant"] == "celery":
        worker = b["docs"][("Deployment", "mlops-training-worker")]["spec"]["template"]["spec"]["containers"][0]
        queues = worker["args"][worker["args"].index("--queues") + 1].split(",")
        assert task.queue != "default" and task.queue in queues, f"{task_id} goes to {task.queue!r}, served: {queues}"
    else:
        (container,) = task.executor_config["pod_override"].spec.containers
        assert container.name == b["pod_template"]["spec"]["containers"][0]["name"] == "base"
        resources = container.resources.__dict__
        assert not k8s_object_errors(resources, "io.k8s.api.core.v1.ResourceRequirements"), resources
        assert resources["limits"]["memory"], resources
    for routed in ((dag_id, "train_candidate"), (f"energy__{dag_id}", task_id)):  # the candidates; a folder pipeline
        probe = _apply_task_policy(local_settings, *routed)
        assert (probe.queue, set(probe.executor_config)) == (task.queue, set(task.executor_config)), routed


CHECKS: dict[str, Callable[[dict], None]] = {
    "config_path": check_config_path,
    "connections": check_connections,
    "pool": check_pool,
    "buckets": check_buckets,
    "secrets": check_secrets,
    "run_id_pattern": check_run_id_pattern,
    "components": check_components,
    "training_route": check_training_route,
}


@pytest.mark.parametrize("check", sorted(CHECKS))
@pytest.mark.parametrize("variant", sorted(VALUES_FILES))
def test_contract(variant: str, check: str):
    CHECKS[check](bundle(variant))


def _secret_entry(b: dict, env_name: str) -> dict:
    return next(e for e in b["values"]["secret"] if e["envName"] == env_name)


def _init_command(b: dict) -> list[str]:
    return b["docs"][("Job", "mlops-airflow-init")]["spec"]["template"]["spec"]["containers"][0]["command"]


def _set_config_path(b: dict, path: str) -> None:
    next(e for e in b["values"]["env"] if e["name"] == "MLOPS_CONFIG")["value"] = path


MUTATIONS: dict[str, tuple[str, Callable[[dict], None]]] = {
    # connection ids
    "mlflow conn id renamed in values": (
        "connections",
        lambda b: _secret_entry(b, "AIRFLOW_CONN_MLFLOW_DEFAULT").update(envName="AIRFLOW_CONN_MLFLOW"),
    ),
    "aws conn dropped from values": (
        "connections",
        lambda b: b["values"].update(secret=[e for e in b["values"]["secret"] if "AWS" not in e["envName"]]),
    ),
    "config's conn id renamed": (
        "connections",
        lambda b: b.update(config_text=b["config_text"].replace("aws_conn_id: aws_default", "aws_conn_id: s3_lake")),
    ),
    "conn points at a missing secret key": (
        "secrets",
        lambda b: _secret_entry(b, "AIRFLOW_CONN_AWS_DEFAULT").update(secretKey="AWS"),
    ),
    "mlflow service renamed": (
        "connections",
        lambda b: b["docs"][("Service", "mlflow")]["metadata"].update(name="mlflow-server"),
    ),
    # the pool
    "pool renamed in the init Job": (
        "pool",
        lambda b: _init_command(b).__setitem__(-1, _init_command(b)[-1].replace("mlops_promotion", "mlops_promo")),
    ),
    "pool constant renamed in the code": (
        "pool",
        lambda b: b.update(names_source=b["names_source"].replace('"mlops_promotion"', '"promotion"')),
    ),
    "pool with two slots": (
        "pool",
        lambda b: _init_command(b).__setitem__(
            -1, _init_command(b)[-1].replace("mlops_promotion 1 ", "mlops_promotion 2 ")
        ),
    ),
    # the config path
    "MLOPS_CONFIG renamed": (
        "config_path",
        lambda b: _set_config_path(b, f"{IMAGE_ROOT}/include/config/k8s/mlops.yml"),
    ),
    "MLOPS_CONFIG to the image's own file": (
        "config_path",
        lambda b: _set_config_path(b, f"{IMAGE_ROOT}/include/config/mlops.compose.yaml"),
    ),
    "ConfigMap mounted elsewhere": (
        "config_path",
        lambda b: b["values"]["volumeMounts"][0].update(mountPath=f"{IMAGE_ROOT}/config"),
    ),
    "ConfigMap content drifts": (
        "config_path",
        lambda b: b.update(config_text=b["config_text"].replace("mlops-lake", "other-lake")),
    ),
    # buckets, secrets, run ids
    "lake bucket drifts": ("buckets", lambda b: b.update(config_text=b["config_text"].replace("mlops-lake", "lake2"))),
    "metadata secret renamed": ("secrets", lambda b: b["values"]["data"].update(metadataSecretName="airflow-db")),
    "literal secret in values": ("secrets", lambda b: b["values"].update(fernetKey="c2VjcmV0")),
    "real value in the example secrets": (
        "secrets",
        lambda b: b["secrets"]["mlops-airflow-jwt-secret"].update({"jwt-secret": "s3cr3t"}),
    ),
    "metrics token dropped": (
        "secrets",
        lambda b: b["values"].update(
            secret=[e for e in b["values"]["secret"] if e["envName"] != "MLOPS_METRICS_TOKEN"]
        ),
    ),
    "run id pattern unanchored": (
        "run_id_pattern",
        lambda b: b["values"]["config"]["scheduler"].update(allowed_run_id_pattern=r"^[A-Za-z0-9_.~:+-]+$"),
    ),
    "statsd off": ("components", lambda b: b["values"]["statsd"].update(enabled=False)),
    "training not routed": (
        "training_route",
        lambda b: b["values"].update(airflowLocalSettings="def task_policy(task):\n    pass\n"),
    ),
}


# what each check says about its mutation (so a mutation is caught for its own reason)
DRIFT_MESSAGES = {
    "ConfigMap content drifts": "differs from include/config/mlops.compose.yaml",
    "ConfigMap mounted elsewhere": "no volumeMount puts a ConfigMap there",
    "MLOPS_CONFIG renamed": "has no key 'mlops.yml'",
    "MLOPS_CONFIG to the image's own file": "no volumeMount puts a ConfigMap there",
    "aws conn dropped from values": "gives no AIRFLOW_CONN_AWS_DEFAULT",
    "config's conn id renamed": "gives no AIRFLOW_CONN_S3_LAKE",
    "conn points at a missing secret key": "has no key 'AWS'",
    "lake bucket drifts": "task logs: lake bucket",
    "literal secret in values": "fernetKey set literally",
    "metadata secret renamed": "Secret airflow-db is not in secrets.example.yaml",
    "metrics token dropped": "no MLOPS_METRICS_TOKEN from a Secret",
    "mlflow conn id renamed in values": "gives no AIRFLOW_CONN_MLFLOW_DEFAULT",
    "mlflow service renamed": "the MLflow Service is http://mlflow-server:5000",
    "pool constant renamed in the code": "does not create the pool 'promotion'",
    "pool renamed in the init Job": "does not create the pool 'mlops_promotion'",
    "pool with two slots": "one promotion at a time",
    "real value in the example secrets": "jwt-secret[jwt-secret] is not a change-me",  # pragma: allowlist secret
    "run id pattern unanchored": "!= compose's",
    "statsd off": "StatsD metrics",
    "training not routed": "train_challenger goes to 'default'",
}


def test_every_mutation_names_its_message():
    assert set(DRIFT_MESSAGES) == set(MUTATIONS)


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_drift_is_caught(mutation: str):
    """Each mutation of a copy of the parsed files makes its check fail (the real files pass: test_contract)."""
    check, mutate = MUTATIONS[mutation]
    variant = "celery"
    b = copy.deepcopy(bundle(variant))
    CHECKS[check](copy.deepcopy(b))  # passes before
    mutate(b)
    with pytest.raises(AssertionError, match=re.escape(DRIFT_MESSAGES[mutation])):
        CHECKS[check](b)


def test_a_drift_is_caught_in_the_kubernetes_variant():
    b = bundle("kubernetes")
    pod = b["pod_template"]["spec"]["containers"][0]
    next(e for e in pod["env"] if e["name"] == "AIRFLOW_CONN_AWS_DEFAULT")["name"] = "AIRFLOW_CONN_AWS"
    with pytest.raises(AssertionError, match="pod_template: no AIRFLOW_CONN_AWS_DEFAULT"):
        check_connections(b)
    b = bundle("kubernetes")
    b["pod_template"]["spec"]["volumes"][1]["configMap"]["name"] = "other"
    with pytest.raises(AssertionError, match="pod_template"):
        check_config_path(b)


def write_configmap() -> None:
    """Rewrite pipeline-config.yaml's data from include/config/mlops.compose.yaml (keeps the header)."""
    path = DEPLOY / "pipeline-config.yaml"
    head = path.read_text().split("  mlops.yaml: |\n", 1)[0]
    body = "".join(("    " + line if line.strip() else "") + "\n" for line in CONFIG_SOURCE.read_text().splitlines())
    path.write_text(head + "  mlops.yaml: |\n" + body)
    assert yaml.safe_load(path.read_text())["data"]["mlops.yaml"] == CONFIG_SOURCE.read_text()


if __name__ == "__main__" and sys.argv[1:] == ["--write-configmap"]:
    write_configmap()
