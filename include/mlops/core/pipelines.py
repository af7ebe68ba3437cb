"""Which pipelines this deployment runs, and the names each one's DAGs, pool and Assets go by.

Standard library only: every DAG file calls ``pipelines()`` at parse time, and the only work it does is list
the folder and read each file's top-level ``name:`` line (no YAML parser, no validation: the tasks load and
validate their config when they run, and ``dags/pipeline_configs.py`` reports a broken file as an import error).

- The main pipeline is ``$MLOPS_CONFIG`` (default ``include/config/mlops.yaml``): its DAGs keep their plain ids
  (``ingest_and_validate``, ...), its pool is ``mlops_promotion``.
- ``$MLOPS_PIPELINES`` names a folder of more pipeline configs (``*.yaml``): each one's DAG ids are
  ``<name>__<dag id>`` (``energy__train_and_promote``), its pool ``mlops_promotion__<name>``, its Assets
  ``mlops_curated_batch__<name>`` ... and, unless the file sets ``lake.root``, its lake is
  ``data/lake/pipelines/<name>``. ``<name>`` is the file's top-level ``name:``, else the file name without
  ``.yaml``.

A file whose name cannot be read (not a valid pipeline name, or the same name as another file) makes no DAGs;
``broken_pipelines()`` lists it with the reason.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PIPELINES_ENV = "MLOPS_PIPELINES"
SEPARATOR = "__"  # <pipeline>__<dag id>: pipeline names never hold it
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*\Z")  # the `name` key's pattern in include.mlops.core.config
MAX_NAME = 40
_NAME_LINE = re.compile(r"^name:[ \t]*(?P<value>[^#\r\n]*?)[ \t]*(?:#.*)?$", re.MULTILINE)
BASE_POOL = "mlops_promotion"


@dataclass(frozen=True)
class Pipeline:
    """One pipeline: ``name`` None is the main one (``MLOPS_CONFIG``, plain DAG ids)."""

    name: str | None = None
    config_path: str | None = None  # None: $MLOPS_CONFIG, else the shipped default

    def dag_id(self, base: str) -> str:
        return base if self.name is None else f"{self.name}{SEPARATOR}{base}"

    @property
    def pool(self) -> str:
        return BASE_POOL if self.name is None else f"{BASE_POOL}{SEPARATOR}{self.name}"

    @property
    def tags(self) -> list[str]:
        """DAG tags: the UI filters a folder pipeline's DAGs by ``pipeline:<name>``."""
        return [] if self.name is None else [f"pipeline:{self.name}"]

    def doc(self, doc_md: str | None) -> str:
        """A DAG's ``doc_md`` with, for a folder pipeline, which pipeline and config file it runs."""
        if self.name is None:
            return doc_md or ""
        return f"**Pipeline `{self.name}`** (config `{self.config_path}`).\n\n{doc_md or ''}"

    def asset_name(self, base: str) -> str:
        return base if self.name is None else f"{base}{SEPARATOR}{self.name}"


@dataclass(frozen=True)
class BrokenPipeline:
    path: str
    error: str


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _read_name(path: Path) -> str:
    """The file's top-level ``name:`` (a plain or quoted scalar), else the file name; ``ValueError`` when
    it is not a pipeline name."""
    match = _NAME_LINE.search(path.read_text(encoding="utf-8", errors="replace"))
    raw = _unquote(match.group("value").strip()) if match else ""
    name = path.stem if raw in ("", "null", "~") else raw
    where = f"its `name: {raw}`" if raw not in ("", "null", "~") else "its file name (no `name:` key)"
    if len(name) > MAX_NAME or not NAME_PATTERN.match(name):
        raise ValueError(
            f"{path}: {where} gives the pipeline name {name!r}, which is not a pipeline name: use lowercase "
            f"letters, digits and single underscores, starting with a letter, at most {MAX_NAME} characters "
            "(DAG ids are <name>__<dag id>)"
        )
    return name


def scan(folder: str | os.PathLike | None = None) -> tuple[list[Pipeline], list[BrokenPipeline]]:
    """The main pipeline and those of the folder (``$MLOPS_PIPELINES`` unless given), and the broken files."""
    found: list[Pipeline] = [Pipeline()]
    broken: list[BrokenPipeline] = []
    where = folder if folder is not None else os.environ.get(PIPELINES_ENV, "")
    if not where:
        return found, broken
    root = Path(where)
    if not root.is_absolute():  # like lake.root: relative to the project, whatever the working directory
        root = Path(__file__).resolve().parents[3] / root
    if not root.is_dir():
        broken.append(
            BrokenPipeline(
                str(root),
                f"{PIPELINES_ENV}={where} is not a folder; point it at a folder of "
                "pipeline configs (*.yaml) or unset it",
            )
        )
        return found, broken
    seen: dict[str, str] = {}
    for path in sorted([*root.glob("*.yaml"), *root.glob("*.yml")]):
        try:
            name = _read_name(path)
        except (OSError, ValueError) as exc:
            broken.append(BrokenPipeline(str(path), str(exc)))
            continue
        if name in seen:
            broken.append(
                BrokenPipeline(
                    str(path),
                    f"{path}: pipeline name {name!r} is taken by {seen[name]}; give one of them another `name:`",
                )
            )
            continue
        seen[name] = str(path)
        found.append(Pipeline(name, str(path)))
    return found, broken


def pipelines() -> list[Pipeline]:
    """Every pipeline whose DAGs this deployment defines (the main one first)."""
    return scan()[0]


def broken_pipelines() -> list[BrokenPipeline]:
    return scan()[1]


def split_dag_id(dag_id: str) -> tuple[str | None, str]:
    """``energy__train_and_promote`` -> (``energy``, ``train_and_promote``); a plain id -> (None, id)."""
    name, sep, base = dag_id.partition(SEPARATOR)
    return (name, base) if sep else (None, dag_id)


def pipeline_of(dag_id: str) -> Pipeline:
    """The pipeline a DAG belongs to, from its id. A prefixed id whose pipeline is gone from the folder raises
    ``LookupError`` naming the folder."""
    name, _ = split_dag_id(dag_id)
    if name is None:
        return Pipeline()
    for pipeline in pipelines():
        if pipeline.name == name:
            return pipeline
    raise LookupError(
        f"DAG {dag_id} belongs to pipeline {name!r}, which is not in {PIPELINES_ENV}="
        f"{os.environ.get(PIPELINES_ENV, '')!r}; put its config back or delete the DAG"
    )


def config_errors() -> list[str]:
    """What is wrong with the folder's pipeline configs, one message per file: a name that cannot be read, a
    file that does not validate, or two pipelines sharing a lake or a model name (they would overwrite each
    other). Loads and validates every folder config (pydantic, YAML): called by ``dags/pipeline_configs.py``
    only, never by the DAG files."""
    from include.mlops.core.config import load_config
    from include.mlops.core.exceptions import ConfigError

    found, broken = scan()
    errors = [b.error for b in broken]
    owners: dict[tuple[str, str], str] = {}
    for p in found:
        try:
            cfg = load_config(p.config_path, pipeline=p.name)
        except ConfigError as exc:
            if p.name is not None:  # the main config's errors are reported by its tasks, as before
                errors.append(str(exc))
            continue
        for what, value in (("lake root", cfg.lake_root.rstrip("/")), ("model name", cfg.model.name)):
            mine = p.config_path or "the main config (MLOPS_CONFIG)"
            other = owners.setdefault((what, value), mine)
            if other != mine:
                errors.append(
                    f"{mine}: its {what} {value!r} is also the {what} of {other}; each pipeline needs its own "
                    f"(set `{'lake.root' if what == 'lake root' else 'model.name'}`)"
                )
    return errors


def main() -> int:
    """``python -m include.mlops.core.pipelines``: one line per pipeline (name, pool, config), for scripts
    that create the pools; broken files on stderr."""
    import sys

    found, broken = scan()
    for p in found:
        print(p.name or "main", p.pool, p.config_path or os.environ.get("MLOPS_CONFIG", "(default)"), sep="\t")
    for b in broken:
        print(f"BROKEN {b.error}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
