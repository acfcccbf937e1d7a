"""The benchmark: the platform's rows/s and peak memory against bare DuckDB and pandas."""
