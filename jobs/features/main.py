"""The feature-extraction Cloud Run job's entry point (the learn image's second command:
terraform/features.tf sets it); the job itself is ``shared.jobs.features``."""

import sys

from shared.jobs.features import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
