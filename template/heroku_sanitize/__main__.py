"""python -m heroku_sanitize [--rules config/sanitize.yml] [--database-url URL] [--dry-run]"""

import sys

from heroku_sanitize.cli import main

sys.exit(main())
