"""A delivery-report receiver for the benchmarks: counts every hit, cheaply.

asyncio, HTTP/1.1 keep-alive, GET or POST; answers 200 to everything. A hit's key is its
``k`` query parameter (the benchmark puts one per request in the report URL). A hit is
*final* unless it carries Kannel's ``type`` of an intermediate report (8: SMSC accepted,
4: buffered); ivr only reports final statuses to a DeliveryReportURL.
``GET /_count`` answers ``hits final_distinct``; ``GET /_keys`` the final keys, one a line.
Run: python bench/dlr_receiver.py PORT   (a separate process, so it takes no GIL from the
load generator)
"""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import parse_qs, urlsplit

_INTERMEDIATE = {"4", "8"}


class Counter:
    def __init__(self) -> None:
        self.hits = 0
        self.final: set[str] = set()

    def record(self, target: str) -> bytes:
        path = urlsplit(target)
        if path.path == "/_count":
            return f"{self.hits} {len(self.final)}\n".encode()
        if path.path == "/_keys":
            return "".join(f"{k}\n" for k in sorted(self.final)).encode()
        self.hits += 1
        query = parse_qs(path.query)
        key = query.get("k", [""])[0]
        if key and query.get("type", [""])[0] not in _INTERMEDIATE:
            self.final.add(key)
        return b""


async def handle(counter: Counter, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            target = lines[0].split(" ")[1]
            length = 0
            for line in lines[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            if length:
                await reader.readexactly(length)
            body = counter.record(target)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, IndexError, ValueError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    counter = Counter()
    server = await asyncio.start_server(lambda r, w: handle(counter, r, w), "127.0.0.1", port,
                                        backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
