"""The function catalogue types, entry-point contract and local runtime."""
