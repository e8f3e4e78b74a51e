"""CSV import of contributions: upload, per-row preview, all rows or none."""
