"""The function catalogue, the entry-point contract and the local event runtime."""
