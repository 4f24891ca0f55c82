"""Byte streams the broker speaks MQTT over: plain TCP and WebSocket (subprotocol ``mqtt``).

Both offer the same four operations to the session, so the protocol code
never knows which one it runs on. ``read`` returns ``b""`` at the end of the
stream (which amqtt's decoders take as "no more data").
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed


class TcpStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        peer = writer.get_extra_info("peername") or ("", 0)
        self.peer: str = str(peer[0])

    async def read(self, n: int) -> bytes:
        try:
            return await self._reader.readexactly(n)
        except (asyncio.IncompleteReadError, ConnectionError):
            return b""

    async def send(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        # Not awaiting wait_closed: the transport finishes closing by itself, and a
        # session cancelled at shutdown must not be left waiting on its peer.
        with suppress(ConnectionError, RuntimeError):
            self._writer.close()


class WebSocketStream:
    """MQTT packets over binary WebSocket messages; a packet may span several."""

    def __init__(self, connection: ServerConnection) -> None:
        self._connection = connection
        self._buffer = bytearray()
        self.peer: str = str((connection.remote_address or ("",))[0])

    async def read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            try:
                message = await self._connection.recv()
            except ConnectionClosed:
                return b""
            self._buffer += message.encode() if isinstance(message, str) else message
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def send(self, data: bytes) -> None:
        try:
            await self._connection.send(data)
        except ConnectionClosed as exc:
            raise ConnectionError(str(exc)) from None

    async def close(self) -> None:
        with suppress(ConnectionClosed, ConnectionError):
            await self._connection.close()
