"""The ledger: entries with a running balance, charts, exports, report and transparency."""
