"""Accounts: users, roles, API tokens, log-in and the organisation's settings."""
