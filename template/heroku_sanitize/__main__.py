"""python -m heroku_sanitize [--rules FILE] [--database-url URL] [--mode online|offline]
[--dry-run] [--allow-uncovered] [--catalog FILE.json]: see --help."""

import sys

from heroku_sanitize.cli import main

sys.exit(main())
