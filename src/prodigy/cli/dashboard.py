"""`prodigy dashboard`: a live page of every session, each MapReduce job a link to its own live page."""

from __future__ import annotations

import click

from prodigy.cli.serve import DEFAULT_PORT

EPILOG = f"""\b
Examples:
  prodigy dashboard                        http://127.0.0.1:{DEFAULT_PORT}/
  prodigy dashboard --port 0               any free port (the URL is printed)
  prodigy dashboard --host 0.0.0.0         reachable from other machines, with an access token
\b
Read-only, like prodigy progress: it never takes a lock or writes state. Ctrl-C stops it.
"""


@click.command(epilog=EPILOG)
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, metavar="HOST",
              help="Address to listen on. Any non-loopback address needs the access token printed in the URL.")
def dashboard(port: int, host: str) -> int:
    """Serve a live web page of all sessions and their jobs."""
    from prodigy.cli.serve import serve

    return serve(host=host, port=port)
