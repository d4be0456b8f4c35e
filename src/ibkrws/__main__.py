"""`python -m ibkrws` is the `ibkrws` command."""

from ibkrws.cli import main

raise SystemExit(main())
