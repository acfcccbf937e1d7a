"""The Spark session as a resource, started on first use and never imported before it.

dagster-pyspark imports pyspark at module level, and the JVM takes ~13 s to start on the bench
machine: definitions must load without either, and runs that stage no `engine: spark` source must
not pay for them. This resource defers both to the first `spark_session` access.
"""

import os
import sys
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr


def session_config(master: str, timezone: str, **extra: str) -> dict[str, str]:
    """Spark settings for the platform: the master, the platform zone, and `extra`."""
    return {"spark.master": master, "spark.sql.session.timeZone": timezone, **extra}


# A laptop or CI runner: two to eight cores and a few GB. Spark's 200 shuffle partitions are tuned
# for clusters; on one machine each costs a task start for a few rows.
LOCAL_SETTINGS = {
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Raw days arrive as several small Parquet files; one task each would cost more than it reads.
    "spark.sql.files.openCostInBytes": str(32 << 20),
    "spark.driver.memory": "2g",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def start_session(config: dict[str, str]) -> Any:
    """A SparkSession with `config` (or the running one), built by dagster-pyspark.

    Python workers run this interpreter unless `PYSPARK_PYTHON` says otherwise: Spark's default,
    `python3` on the PATH, lacks the platform's packages (pyarrow, the masking code).
    """
    from dagster_pyspark import LazyPySparkResource

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return LazyPySparkResource(spark_config=config).spark_session


class SparkResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Spark for the `engine: spark` staging steps: `local[*]` locally, a cluster master in prod."""

    config: dict[str, str] = Field(description="Spark settings, `spark.master` among them.")
    _session: Any = PrivateAttr(default=None)

    @property
    def spark_session(self) -> Any:
        """The session, started on first access (a `pyspark.sql.SparkSession`)."""
        if self._session is None:
            self._session = start_session(self.config)
        return self._session
