"""The ``vidcurate`` command line."""
