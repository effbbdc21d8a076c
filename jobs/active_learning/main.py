"""The active-learning Cloud Run job's entry point (the image runs this file); the job itself
is ``shared.jobs.active_learning``."""

import sys

from shared.jobs.active_learning import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
