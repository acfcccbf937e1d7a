"""`python -m etl_platform.bench`: see `etl_platform.bench.run`."""

import sys

from etl_platform.bench.run import main

sys.exit(main())
