"""``python -m neurorecon`` is the ``neurorecon`` command."""

import sys

from neurorecon.cli import main

sys.exit(main())
