"""A loopback stand-in for an OpenAI-compatible chat server, for tests and benches.

It speaks the real chat-completions protocol over HTTP/1.1 (what vLLM, llama.cpp server, Ollama's /v1
and the hosted APIs speak): `POST /v1/chat/completions` answers a `chat.completion` JSON document, or
with `"stream": true` a `text/event-stream` of `chat.completion.chunk` deltas sent with chunked
transfer encoding and closed by `data: [DONE]`; `GET /v1/models` lists the model.

Replies are scripted: `stub.script(...)` queues replies and faults, consumed one per request; when the
queue is empty `stub.reply` answers (a string, or a function of the request's messages). Every request
is recorded (`stub.requests`, the latest `keep`) so tests can check what the client sent. It deliberately has no
tokenizer, no tools/function calling and no HTTPS.

    with OpenAIStub() as stub:
        stub.script("第一句[1]。", Fault("http", status=500), Fault("cut", after=2))
        ... ChatOpenAI(base_url=stub.base_url, api_key="sk-test", model=stub.model) ...
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULT_KINDS = ("http", "garbage", "garbage_sse", "cut", "empty", "slow", "trickle", "no_finish")


@dataclass(frozen=True)
class Fault:
    """One misbehaviour, for one request.

    kinds: "http" (status, message; echo_auth puts the received Authorization header in the body, as a
    careless server might), "garbage" (200 with a body that is not JSON / not valid SSE), "garbage_sse"
    (a stream whose events are not JSON), "cut" (streaming: close the connection after `after` chunks, no
    terminating chunk and no [DONE]; non-streaming: promise more bytes than sent), "no_finish" (a stream
    that ends cleanly at the HTTP level but without a finish_reason or [DONE]), "empty" (empty content),
    "slow" (wait `delay` seconds before answering), "trickle" (send the body `step` bytes every
    `interval` seconds).
    """

    kind: str
    status: int = 500
    message: str = "internal error"
    echo_auth: bool = False
    after: int = 2
    delay: float = 5.0
    interval: float = 0.2
    step: int = 4

    def __post_init__(self):
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; one of {FAULT_KINDS}")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict | None

    @property
    def messages(self) -> list[dict]:
        return (self.body or {}).get("messages", [])

    def content(self, role: str) -> str:
        """The content of the first message with this role ("" if none)."""
        return next((m.get("content") or "" for m in self.messages if m.get("role") == role), "")


Reply = str | list[str] | Fault
ReplyFunction = Callable[[list[dict]], str]


@dataclass
class OpenAIStub:
    reply: str | ReplyFunction = "根据第一条，应当依法办理[1]。"
    model: str = "stub-model"
    piece_chars: int = 3  # streaming: characters per content delta when a reply is a plain string
    keep: int = 1000  # requests recorded (the latest ones), so long benches do not grow without bound

    def __post_init__(self):
        self.requests: deque[RecordedRequest] = deque(maxlen=self.keep)
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> OpenAIStub:
        stub = self

        class Handler(_Handler):
            owner = stub

        self._stopping.clear()
        self._server = _Server(("127.0.0.1", self._port), Handler)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="openai-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket: afterwards the port refuses connections ("down")."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    # ---- scripting ---------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies (a string, a list of stream pieces, or a Fault), one per coming request."""
        with self._lock:
            self._queue.extend(replies)

    def next_reply(self, messages: list[dict]) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.default_reply(messages)

    def default_reply(self, messages: list[dict]) -> str:
        return self.reply(messages) if callable(self.reply) else self.reply

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    @property
    def last(self) -> RecordedRequest:
        return self.requests[-1]


def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released): connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request, client_address):
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Drop kept-alive client connections, so handler threads end with the server."""
        with self._open_lock:
            for sock in list(self._open):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        pass  # a client that gave up (timeout, deadline) breaks the pipe; that is the point of the faults


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes; no 40 ms delayed-ACK stall
    owner: OpenAIStub

    def log_message(self, format, *args):  # keep test output clean
        pass

    # ---- routes ------------------------------------------------------------------------------

    def do_GET(self):
        self.owner.record(RecordedRequest("GET", self.path, self._headers(), None))
        if self.path.rstrip("/") != "/v1/models":
            return self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
        self._json(200, {"object": "list", "data": [
            {"id": self.owner.model, "object": "model", "created": 0, "owned_by": "stub"}]})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.owner.record(RecordedRequest("POST", self.path, self._headers(), body))
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self._json(400, {"error": {"message": "messages is required", "type": "invalid_request_error"}})
        reply = self.owner.next_reply(body["messages"])
        fault = reply if isinstance(reply, Fault) else None
        if fault and fault.kind == "slow":
            if self.owner._stopping.wait(fault.delay):
                return
            reply, fault = self.owner.default_reply(body["messages"]), None
        if fault and fault.kind == "http":
            message = fault.message
            if fault.echo_auth:
                message += f" (received {self.headers.get('Authorization')})"
            return self._json(fault.status, {"error": {"message": message, "type": "server_error", "code": None}})
        pieces = self._pieces("" if fault and fault.kind == "empty" else reply)
        if body.get("stream"):
            self._stream(pieces, fault)
        else:
            self._complete("".join(pieces), fault)

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    # ---- bodies ------------------------------------------------------------------------------

    def _pieces(self, reply) -> list[str]:
        if isinstance(reply, Fault):
            reply = "这是一个回答。"
        if isinstance(reply, list):
            return reply
        n = self.owner.piece_chars
        return [reply[i:i + n] for i in range(0, len(reply), n)] or [""]

    def _complete(self, text: str, fault: Fault | None):
        doc = {
            "id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()),
            "model": self.owner.model, "system_fingerprint": None,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": len(text), "total_tokens": 10 + len(text)},
        }
        data = json.dumps(doc, ensure_ascii=False).encode()
        if fault and fault.kind in ("garbage", "garbage_sse"):
            data = b"<html><body>502 Bad Gateway</body></html>{not json"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if fault and fault.kind == "cut":
            self.send_header("Content-Length", str(len(data) * 2))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault and fault.kind == "trickle":
            return self._trickle(data, fault)
        self.wfile.write(data)

    def _stream(self, pieces: list[str], fault: Fault | None):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if fault and fault.kind == "garbage":
            self._chunk(b"this is not server-sent events\n\n{{{\n\n")
            return self._chunk(b"")
        events = [self._delta({"role": "assistant", "content": ""})]
        events += [self._delta({"content": p}) for p in pieces]
        if fault and fault.kind == "garbage_sse":
            events.insert(2, b"data: {\"id\": oops not json\n\n")
        if fault and fault.kind == "cut":
            for event in events[: fault.after + 1]:
                self._chunk(event)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)  # no terminating chunk, no [DONE]
            return
        if not (fault and fault.kind == "no_finish"):
            events += [self._delta({}, finish="stop"), b"data: [DONE]\n\n"]
        if fault and fault.kind == "trickle":
            self._trickle(b"".join(events), fault, chunked=True)
        else:
            for event in events:
                self._chunk(event)
        self._chunk(b"")

    def _delta(self, delta: dict, finish: str | None = None) -> bytes:
        doc = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": int(time.time()),
               "model": self.owner.model, "system_fingerprint": None,
               "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return b"data: " + json.dumps(doc, ensure_ascii=False).encode() + b"\n\n"

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _trickle(self, data: bytes, fault: Fault, chunked: bool = False) -> None:
        for i in range(0, len(data), fault.step):
            if self.owner._stopping.wait(fault.interval):
                return
            part = data[i:i + fault.step]
            if chunked:
                self._chunk(part)
            else:
                self.wfile.write(part)
                self.wfile.flush()

    def _json(self, status: int, doc: dict) -> None:
        data = json.dumps(doc, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
