"""``python -m qqproto_transports.cli``: the ``qqproto`` command."""

import sys

from . import main

sys.exit(main())
