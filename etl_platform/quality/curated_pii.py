"""The no-leak proof for the curated layer: no raw PII value of the run's days in any mart.

Staging proves it for what it writes; marts are SQL over staging, so this catches a model that
joins in something it should not (or a source whose PII column was never declared).
"""

from collections.abc import Iterator, Mapping
from datetime import date

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from etl_platform.assets.raw import WAREHOUSE_POOL, raw_key
from etl_platform.io.warehouse import Warehouse
from etl_platform.quality.pii_leak import MartScan, leaked_columns, raw_pii_distinct
from etl_platform.sources.model import SourceSpec

CHECK_NAME = "pii_no_leak"


def _run_window(context: dg.AssetCheckExecutionContext) -> tuple[date, date] | None:
    """The run's first and last day; None for a run without partitions (the check reads all)."""
    if not context.op_execution_context.has_partitions:
        return None
    keys = context.partition_key_range
    return date.fromisoformat(keys.start), date.fromisoformat(keys.end)


def build_curated_pii_check(
    specs: list[SourceSpec],
    curated: dg.AssetsDefinition,
    window_columns: Mapping[dg.AssetKey, str],
) -> dg.AssetChecksDefinition:
    """One blocking check per curated model, all computed in one step from one read of raw.

    A model with a date column in `window_columns` (a daily mart, a staging view) is read for
    the run's days only: the runs that built its other days checked them. A change to a view's
    SQL changes every day of it at once; a run over the whole range (a backfill, or a run
    without partitions) checks them all. Dimensions are read whole.
    """
    with_pii = [s for s in specs if any(c.pii for c in s.columns)]
    models = sorted(k for k in curated.keys if k.path[0] == "curated")

    @dg.multi_asset_check(
        name="curated_pii_no_leak",
        specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=key,
                blocking=True,
                additional_deps=[raw_key(s) for s in with_pii],
                description="No raw value of any source's PII column (for the run's days) "
                "appears in this model.",
            )
            for key in models
        ],
        ins={f"raw_{s.name}": dg.AssetIn(key=raw_key(s)) for s in with_pii},
        # A run rebuilding some models checks those.
        can_subset=True,
        pool=WAREHOUSE_POOL,
    )
    def curated_pii_no_leak(
        context: dg.AssetCheckExecutionContext, warehouse: Warehouse, **raw: ds.Dataset
    ) -> Iterator[dg.AssetCheckResult]:
        specs_by_input = {f"raw_{s.name}": s for s in with_pii}
        selected = sorted(k.asset_key for k in context.selected_asset_check_keys)
        values = pc.unique(
            pa.concat_arrays(
                [raw_pii_distinct(dataset, specs_by_input[name]) for name, dataset in raw.items()]
            )
        )
        scans = [MartScan(k.path[0], k.path[1], window_columns.get(k)) for k in selected]
        leaks = leaked_columns(warehouse, scans, values, _run_window(context))
        for key in selected:
            found = leaks[(key.path[0], key.path[1])]
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name=CHECK_NAME,
                passed=not found,
                metadata={"leaked_cells_by_column": found, "values_probed": len(values)},
            )

    return curated_pii_no_leak
