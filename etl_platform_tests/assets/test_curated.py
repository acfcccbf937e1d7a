import json

import dagster as dg
import pytest

from etl_platform.assets.curated import MANIFEST, window_columns


def test_daily_marts_and_staging_views_are_bounded_by_their_date_columns():
    """A daily mart by the column its days are rebuilt by, a view by its `meta.window_column`."""
    assert window_columns() == {
        dg.AssetKey(["curated", "stg_marketplace__orders"]): "order_date",
        dg.AssetKey(["curated", "stg_marketplace__payments"]): "payment_date",
        dg.AssetKey(["curated", "stg_marketplace__customers"]): "snapshot_date",
        dg.AssetKey(["curated", "stg_marketplace__products"]): "snapshot_date",
        dg.AssetKey(["curated", "fct_order_lines"]): "order_date",
        dg.AssetKey(["curated", "fct_payments"]): "payment_date",
        dg.AssetKey(["curated", "daily_revenue_by_category_state"]): "order_date",
        dg.AssetKey(["curated", "payment_reconciliation"]): "reconciliation_date",
        dg.AssetKey(["curated", "daily_payment_reconciliation"]): "reconciliation_date",
    }


def test_a_daily_mart_keyed_by_more_than_its_date_is_refused(tmp_path):
    manifest = json.loads(MANIFEST.read_text())
    (node,) = [n for n in manifest["nodes"].values() if n["name"] == "fct_payments"]
    node["config"]["unique_key"] = ["payment_date", "txn_id"]
    changed = tmp_path / "manifest.json"
    changed.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="fct_payments is tagged partitioned_daily"):
        window_columns(changed)
