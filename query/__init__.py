"""DuckDB index, SQL sandbox and export (built by the query issue)."""
