"""`python -m nanococoa_mcp.cli` runs the CLI (the tests start servers this way)."""

from nanococoa_mcp.cli.commands import app

app()
