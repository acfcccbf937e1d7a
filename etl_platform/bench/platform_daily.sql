-- The platform's staged order lines per day, as the baselines report theirs (see figures.py).
SELECT
    _partition_date AS day,
    count(*) AS staged_rows,
    CAST(sum(quantity * unit_price_inr) * 100 AS BIGINT) AS revenue_paise,
    sum(_source_line) AS line_checksum
FROM staging.orders
GROUP BY _partition_date
ORDER BY day
