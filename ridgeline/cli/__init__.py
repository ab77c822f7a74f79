"""The command line and the processes it starts: `commands.py` (the `ridgeline ...` commands),
`server.py` (the API server and the standalone worker), `admin.py` (administration commands, run
through the same services as the API) and `demo.py` (`ridgeline demo`)."""

from ridgeline.cli.commands import app, main

__all__ = ["app", "main"]
