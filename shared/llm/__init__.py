"""The model client, limits, ledger, prices and prompt registry."""
