"""Sub-commands of the `ibkrws` CLI that talk to a gateway: `stream` and `health`.

Each module exposes `register(sub)`, called by `ibkrws.cli.build_parser`.
"""
