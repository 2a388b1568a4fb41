"""Start Prefect's temporary server while the run imports its steps, instead of after.

Without PREFECT_API_URL the first flow call starts a temporary server (≈ 6 s) and waits for
it; importing the steps (great_expectations, SALib, matplotlib: ≈ 4 s) happens before that
call. Starting the server in a thread first overlaps the two. The thread must be joined
before the flow is called: Prefect marks the server running before it answers.
"""

from __future__ import annotations

import threading


def start_in_background() -> threading.Thread | None:
    """The temporary server starting in a thread, or None when a server is configured."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return None
    from prefect.server.api.server import SubprocessASGIServer

    thread = threading.Thread(target=SubprocessASGIServer().start, name="prefect-server-start", daemon=True)
    thread.start()
    return thread
