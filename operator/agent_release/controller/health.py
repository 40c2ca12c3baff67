"""`/healthz` and `/readyz`: is this replica alive, and is it the leader or a standby.

Both answer with a small JSON document naming the replica, its role and the Lease's
holder, so `curl` (or a person reading probe results) tells the leader from a standby.
`/healthz` fails (503) when the analysis loop has not ticked for a while: a hung process
is restarted by the kubelet. `/readyz` succeeds on a standby too: a standby is ready to
take over, and a readiness that failed on it would stall every rolling update of the
Deployment (its new pods would never become ready while the old one leads).
"""

from __future__ import annotations

import time

from aiohttp import web

from .runtime import Runtime

STALE_AFTER = 30.0  # seconds without a tick of the analysis loop: not healthy


def _state(rt: Runtime) -> dict[str, object]:
    leadership = rt.leadership
    return {
        "role": "leader" if rt.leading() else "standby",
        "identity": leadership.me if leadership else None,
        "holder": leadership.holder if leadership else None,
        "last_tick_seconds_ago": round(time.monotonic() - rt.last_tick, 1),
    }


async def serve(rt: Runtime, address: str, port: int) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        state = _state(rt)
        alive = time.monotonic() - rt.last_tick < STALE_AFTER
        return web.json_response(state, status=200 if alive else 503)

    async def readyz(_: web.Request) -> web.Response:
        return web.json_response(_state(rt))

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, address, port).start()
    return runner
