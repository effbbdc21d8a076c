"""Entry points of the Cloud Run jobs (``python -m shared.jobs.<job>``): thin, like the
functions' ``main.py``; the work is in the capability packages."""
