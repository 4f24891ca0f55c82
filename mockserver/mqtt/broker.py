"""The embedded broker: listeners, the table of connected devices, connection status.

It runs in the mock's own event loop, on the mock's backend, clock and
throttles, so a state published over MQTT and one sent over REST are the
same thing to every other part of the mock. It starts and stops with the ASGI
app's lifespan (:meth:`MqttBroker.lifespan`), so ``losant-mock serve``, uvicorn
and the tests' live servers all run it the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from websockets.asyncio.server import Server as WebSocketServer
from websockets.asyncio.server import ServerConnection, serve

from losant_kit.mockserver.errors import PlatformError
from losant_kit.mockserver.mqtt.limits import Lockouts
from losant_kit.mockserver.mqtt.login import LoginRefused
from losant_kit.mockserver.mqtt.messages import SOURCE, PublishRules
from losant_kit.mockserver.mqtt.session import ClientSession
from losant_kit.mockserver.mqtt.transport import TcpStream, WebSocketStream

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from losant_kit.mockserver.models.backend import Backend
    from losant_kit.mockserver.spec import PlatformSpec

log = logging.getLogger(__name__)
T = TypeVar("T")


class MqttBroker:
    """MQTT 3.1.1 over TCP (``port``) and WebSocket (``ws_port``); None = that listener off."""

    def __init__(
        self,
        backend: Backend,
        spec: PlatformSpec,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        ws_port: int | None = None,
    ) -> None:
        self.backend = backend
        self.host = host
        self.port = port
        self.ws_port = ws_port
        self.rules = PublishRules(backend, spec)
        self.lockouts = Lockouts(backend.clock)
        self.sessions: dict[str, ClientSession] = {}
        self.refusals = 0
        self._tcp: asyncio.Server | None = None
        self._ws: WebSocketServer | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def enabled(self) -> bool:
        return self.port is not None or self.ws_port is not None

    # ------------------------------------------------------------ start and stop

    async def start(self) -> None:
        """Bind the listeners; port 0 picks a free port (read back from ``port``)."""
        self._loop = asyncio.get_running_loop()
        if self.port is not None:
            self._tcp = await asyncio.start_server(self._tcp_client, self.host, self.port)
            self.port = self._tcp.sockets[0].getsockname()[1]
        if self.ws_port is not None:
            self._ws = await serve(
                self._ws_client, self.host, self.ws_port, subprotocols=["mqtt"],
                max_size=None, compression=None, ping_interval=None,
            )
            self.ws_port = next(iter(self._ws.sockets)).getsockname()[1]

    async def stop(self) -> None:
        for session in list(self.sessions.values()):
            session.close("broker shutting down")
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
            self._tcp = None
        if self._ws is not None:
            self._ws.close()
            await self._ws.wait_closed()
            self._ws = None
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)

    async def lifespan(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Run ``app``'s ASGI lifespan with the broker started before it and stopped after."""

        async def receive_and_act() -> Any:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
            return message

        await app(scope, receive_and_act, send)

    # ------------------------------------------------------------ connections

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(ClientSession(self, TcpStream(reader, writer), "tcp"))

    async def _ws_client(self, connection: ServerConnection) -> None:
        await self._serve(ClientSession(self, WebSocketStream(connection), "websocket"))

    async def _serve(self, session: ClientSession) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await session.run()
        except Exception:  # a bug in the broker must not take the server down
            log.exception("MQTT session failed")
            session.finish("the broker failed")
        finally:
            self._handlers.discard(task)

    def started(self, session: ClientSession) -> None:
        """A login was accepted: take over an older connection, mark the device connected."""
        login = session.login
        assert login is not None
        previous = self.sessions.get(login.device_id)
        if previous is not None:
            previous.close("another connection with the same client id took over")
        self.sessions[login.device_id] = session
        self._status(session, {"status": "connected", "ipAddress": _ip(session)})

    def ended(self, session: ClientSession, reason: str) -> None:
        """The connection ended (whoever closed it): mark the device disconnected."""
        login = session.login
        assert login is not None
        if self.sessions.get(login.device_id) is session:
            del self.sessions[login.device_id]
        self._status(session, {
            "status": "disconnected",
            "disconnectReason": reason[:1024],
            "messagesFromClient": session.messages_in,
            "messagesToClient": session.messages_out,
            "ipAddress": _ip(session),
        })

    def refused(self, session: ClientSession, refusal: LoginRefused) -> None:
        self.refusals += 1
        log.info("MQTT login of %s refused (CONNACK %d): %s",
                 session.client_id, refusal.code, refusal.reason)

    def _status(self, session: ClientSession, body: dict[str, Any]) -> None:
        login = session.login
        assert login is not None
        if not body["ipAddress"]:
            del body["ipAddress"]
        try:
            with self.backend.store.transaction():  # written before it is acknowledged
                self.backend.telemetry.connections.set_status(
                    login.principal, login.application_id, login.device_id, body, source=SOURCE
                )
        except PlatformError as exc:  # e.g. the device was deleted while connected
            log.info("connection status of %s not recorded: %s", login.device_id, exc.message)

    # ------------------------------------------------------------ control API

    def overview(self) -> dict[str, Any]:
        def describe() -> list[dict[str, Any]]:
            return [self.sessions[c].describe() for c in sorted(self.sessions)]

        items = self._in_loop(describe)
        return {
            "enabled": self.enabled,
            "port": self.port,
            "wsPort": self.ws_port,
            "items": items,
            "count": len(items),
        }

    def drop(self, client_id: str) -> bool:
        def close() -> bool:
            session = self.sessions.get(client_id)
            if session is None:
                return False
            session.close("disconnected by the control API")
            return True

        return self._in_loop(close)

    def reset(self) -> None:
        """Back to a fresh broker (with the world): connections dropped, lock-outs lifted."""

        def close_all() -> None:
            for session in list(self.sessions.values()):
                session.close("the mock was reset")

        self._in_loop(close_all)
        self.lockouts.clear()

    def _in_loop(self, action: Callable[[], T]) -> T:
        """Run ``action`` in the broker's loop (control calls may come from a worker thread)."""
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or loop.is_closed():
            return action()

        async def run() -> T:
            return action()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=30)


def _ip(session: ClientSession) -> str:
    # deviceConnectionStatus.ipAddress is 2-39 characters.
    peer = session.stream.peer
    return peer if 2 <= len(peer) <= 39 else ""
