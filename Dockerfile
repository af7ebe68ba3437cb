# Airflow image for this project. Laid out like an Astro Runtime project (code in /usr/local/airflow,
# packages.txt + a pinned requirements file), but built from the open-source Airflow image, so a plain
# `docker build .` / `docker compose build` works without the Astro CLI.
#
#   docker build -t airflow-mlops:local .
#
# The image installs the runtime lock only (requirements.lock, resolved from requirements.in). Tests,
# tooling and `make run`'s embedded PostgreSQL are in requirements-dev.lock and stay out of the image
# (tests/integration/test_compose_contract.py checks it). To run the DAG integrity test in a running
# container, install pytest into it first at the dev lock's pin (the $(...) runs on the host):
#   docker compose exec airflow-scheduler pip install "$(grep '^pytest==' requirements-dev.lock)"
#   docker compose exec airflow-scheduler python -m pytest -p no:cacheprovider .astro/test_dag_integrity_default.py
# AIRFLOW_BASE_IMAGE: the official image by default. On a machine that cannot pull it, deploy/podman/build-images.sh
# builds a stand-in from Debian packages (deploy/podman/airflow-base.Containerfile says what of the official image it
# keeps) and passes it here: nothing below changes with the base.
ARG AIRFLOW_BASE_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_BASE_IMAGE}

# --- OS packages (packages.txt: one Debian package per line, # comments allowed) -------------------
USER root
COPY packages.txt /tmp/packages.txt
RUN pkgs="$(sed -e 's/#.*//' /tmp/packages.txt | xargs)" \
    && if [ -n "${pkgs}" ]; then \
         apt-get update \
         && apt-get install -y --no-install-recommends ${pkgs} \
         && apt-get autoremove -yqq --purge \
         && apt-get clean \
         && rm -rf /var/lib/apt/lists/*; \
       fi \
    && rm -f /tmp/packages.txt \
    && mkdir -p /usr/local/airflow \
    && chown airflow:0 /usr/local/airflow \
    && chmod 0775 /usr/local/airflow

# --- Python dependencies: the runtime lock only (requirements.lock pins apache-airflow==3.3.2) ---------
USER airflow
COPY --chown=airflow:0 requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir -r /tmp/requirements.lock \
    && rm -f /tmp/requirements.lock

# Compile bytecode once at build time: the runtime may set PYTHONDONTWRITEBYTECODE, and every DAG
# parse / task process would otherwise recompile mlflow, sklearn, GX... from source. Only the
# site-packages the airflow user owns are compiled; `|| true` because a few third-party packages ship
# deliberately invalid .py files (templates, test fixtures) that compileall reports as errors.
RUN for dir in $(python -c 'import site, sysconfig; print(" ".join(sorted({sysconfig.get_paths()["purelib"], site.getusersitepackages()})))'); do \
      if [ -d "${dir}" ] && [ -w "${dir}" ]; then python -m compileall -qq -j 0 "${dir}" || true; fi; \
    done

# --- Project code, Astro layout --------------------------------------------------------------------
ENV AIRFLOW__CORE__DAGS_FOLDER=/usr/local/airflow/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/usr/local/airflow/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    PYTHONPATH=/usr/local/airflow:/usr/local/airflow/plugins

WORKDIR /usr/local/airflow
COPY --chown=airflow:0 dags/ /usr/local/airflow/dags/
COPY --chown=airflow:0 plugins/ /usr/local/airflow/plugins/
COPY --chown=airflow:0 include/ /usr/local/airflow/include/
COPY --chown=airflow:0 scripts/ensure_admin.sh /usr/local/airflow/scripts/ensure_admin.sh
COPY --chown=airflow:0 scripts/after_migrations.sh /usr/local/airflow/scripts/after_migrations.sh
COPY --chown=airflow:0 .astro/ /usr/local/airflow/.astro/
# the DAG integrity checks the .astro file runs (it imports them; the rest of tests/ stays out of the image, and so
# does the dev-only support package mlops_dev/: tests/integration/test_compose_contract.py checks both)
COPY --chown=airflow:0 tests/dags/test_dag_integrity.py /usr/local/airflow/tests/dags/test_dag_integrity.py
COPY --chown=airflow:0 pyproject.toml /usr/local/airflow/pyproject.toml

# Our own code must compile (no `|| true`: a syntax error fails the build). The logs directory is
# created here so a fresh named volume mounted on it inherits airflow:0 ownership.
RUN python -m compileall -q dags plugins include \
    && mkdir -p "${AIRFLOW_HOME}/logs" \
    && chmod g+w "${AIRFLOW_HOME}/logs"

# The DAG integrity check (.astro/test_dag_integrity_default.py) runs here, on the image as built: a DAG that does
# not import, or imports a heavy library at parse time, fails the build. pytest, at the dev lock's pin, goes to a
# scratch directory that the same step removes, so the image keeps the runtime packages only.
RUN --mount=type=bind,source=requirements-dev.lock,target=/tmp/requirements-dev.lock \
    pip install --no-cache-dir --quiet --target /tmp/integrity "$(grep '^pytest==' /tmp/requirements-dev.lock)" \
    && PYTHONPATH="/tmp/integrity:${PYTHONPATH}" python -m pytest -q -p no:cacheprovider .astro/test_dag_integrity_default.py \
    && rm -rf /tmp/integrity
