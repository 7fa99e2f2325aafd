"""``python -m rnnref_cli``: the ``rnnref`` console script without installing it."""

import sys

from rnnref_cli.console import main

if __name__ == "__main__":
    sys.exit(main())
