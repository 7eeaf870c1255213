"""One client connection of the metrics server: its buffers, its requests, its writes.

The selector loop in :mod:`exporters.iceberg.server` decides when a connection is read,
answered, timed out or closed; this module holds what one connection knows by itself:
how its input splits into requests and how its queued responses go out in gathered
writes.
"""

from __future__ import annotations

import collections
import itertools
import selectors
import socket

from exporters.iceberg.http_protocol import Request, parse_request_head

MAX_REQUEST_HEAD = 16 * 1024
IOV_BATCH = 64  # buffers per sendmsg (well under IOV_MAX)


class Connection:
    __slots__ = (
        "sock", "fd", "inbuf", "out", "sent", "last", "head_started", "close_after", "draining", "requests", "mask",
    )

    def __init__(self, sock: socket.socket, now: float):
        self.sock = sock
        self.fd = sock.fileno()
        self.inbuf = bytearray()
        self.out = collections.deque()  # response buffers (head, body, head, ...), in request order
        self.sent = 0  # bytes of out[0] already written
        self.last = now  # last read or write progress
        self.head_started = 0.0  # when the first byte of an incomplete request arrived
        self.close_after = False  # close once ``out`` is written
        self.draining = 0.0  # since when the write side is shut down (lingering close), or 0
        self.requests = 0
        self.mask = selectors.EVENT_READ  # the events it is registered for

    @property
    def idle(self) -> bool:
        return not self.inbuf and not self.out

    def take_requests(self, now: float) -> list[Request]:
        """The complete requests in ``inbuf``, removed from it, in order.

        A request without keep-alive (or a head over ``MAX_REQUEST_HEAD``, answered 431)
        is the last one: what follows it is discarded.
        """
        found: list[Request] = []
        while not self.close_after:
            end = self.inbuf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.inbuf) > MAX_REQUEST_HEAD:
                    found.append(Request("", "", False, False, 431))
                    self.close_after = True
                    self.inbuf.clear()
                break
            head = bytes(self.inbuf[:end])
            del self.inbuf[: end + 4]
            while head.startswith(b"\r\n"):  # tolerated empty lines before a request
                head = head[2:]
            request = parse_request_head(head)
            self.requests += 1
            if not request.keep_alive:
                self.close_after = True
                self.inbuf.clear()
            found.append(request)
            self.head_started = now
        return found

    def send_some(self) -> tuple[int, bool]:
        """One gather write of the queued buffers (head and body in one call).

        Returns the bytes written and whether the socket took all that was offered
        (False: its buffer is full, wait until it is writable). Raises ``OSError`` when
        the connection failed.
        """
        out = self.out
        first = out[0]
        bufs = [memoryview(first)[self.sent :] if self.sent else first]
        bufs.extend(itertools.islice(out, 1, IOV_BATCH))
        wanted = sum(len(b) for b in bufs)
        try:
            n = self.sock.sendmsg(bufs)
        except (BlockingIOError, InterruptedError):
            n = 0
        done = n
        while done and out:
            left = len(out[0]) - self.sent
            if done < left:
                self.sent += done
                break
            done -= left
            out.popleft()
            self.sent = 0
        return n, n >= wanted
