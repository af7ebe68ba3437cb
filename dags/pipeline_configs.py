"""
### pipeline_configs (defines no DAG)

Reports what is wrong with the pipeline configs of the `MLOPS_PIPELINES` folder as this file's DAG import
error (UI: "DAG Import Errors"; CLI: `airflow dags list-import-errors`), naming each broken file and what
to fix. A file whose pipeline name cannot be read (not a valid name, or taken by another file) makes no
DAGs; a file that does not validate keeps its DAGs, whose tasks fail at once with the same message. The
other pipelines' DAGs are untouched either way. With no `MLOPS_PIPELINES` this file does nothing.
"""

from __future__ import annotations

from include.mlops.core.pipelines import config_errors, scan


class PipelineConfigError(Exception):
    """One or more pipeline config files are broken; the message names each file."""


if len(scan()[0]) > 1 or scan()[1]:  # only with a folder of pipelines: nothing to load otherwise
    _problems = config_errors()
    if _problems:
        raise PipelineConfigError(
            f"{len(_problems)} pipeline config problem(s) (only these pipelines' DAGs are affected):\n"
            + "\n".join(f"- {p}" for p in _problems)
        )
