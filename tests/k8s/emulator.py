"""kmock's KubernetesEmulator on a real TCP port, in a background thread with its own
event loop, so the synchronous official `kubernetes` client (and the sync loop under
test) talk to it over HTTP like to any API server. `stop()` closes the port (an API
outage: connection refused) and `start()` reopens it on the same port with the same
objects."""
from __future__ import annotations

import asyncio
import threading
from typing import Any

import kmock


class EmulatedAPI:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="kmock", daemon=True)
        self.thread.start()
        self.emulator: kmock.KubernetesEmulator = self._call(self._make_emulator())
        self.server: kmock.Server | None = None
        self.port: int | None = None

    async def _make_emulator(self) -> kmock.KubernetesEmulator:
        emulator = kmock.KubernetesEmulator()
        await emulator.__aenter__()
        return emulator

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        async def start() -> kmock.Server:
            server = kmock.Server(self.emulator, port=self.port) if self.port else kmock.Server(self.emulator)
            await server.__aenter__()
            return server
        self.server = self._call(start())
        self.port = self.server.port

    def stop(self) -> None:
        if self.server is not None:
            self._call(self.server.__aexit__(None, None, None))
            self.server = None

    def close(self) -> None:
        self.stop()
        self._call(self.emulator.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    def declare(self, group: str, version: str, plural: str) -> None:
        """kmock does not serve a resource from a CRD object (no discovery of CRDs):
        a resource with no objects yet answers 404 to a list until declared here."""
        self.emulator.resources[f"{group}/{version}/{plural}"] = kmock.ResourceInfo()

    @property
    def requests(self) -> list[Any]:
        return list(self.emulator)  # the root view iterates over every request served
