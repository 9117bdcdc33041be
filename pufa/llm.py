"""Language-model backends: the one module that talks to langchain's chat clients.

The answer pipeline sees `ChatBackend` (stream text pieces / complete) over our own `Message` records
and one error type, `LLMError`, whatever went wrong: server down, too slow, an HTTP error, a body that
is not chat-completions data, a stream cut mid-way, or an empty reply. `OpenAICompatibleBackend` covers
every OpenAI-compatible server (vLLM, DeepSeek, DashScope compatible mode, Ollama's /v1, llama.cpp
server) through `langchain_openai.ChatOpenAI`.

`Settings.llm_timeout` is a deadline for the whole call, not per socket read: a server that trickles
bytes slowly is cut off by a watchdog that shuts the connection down when the deadline passes.

Left out on purpose: retries (the caller falls back to the extractive answer instead), async clients,
tool calling, and Ollama's native API (its /v1 endpoint is OpenAI-compatible).
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from .answer import Message
from .errors import ConfigError, LLMError

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger(__name__)

ROLES = ("system", "user", "assistant")
PLACEHOLDER_KEY = "EMPTY"  # sent when no key is configured: local servers ignore it, ChatOpenAI needs one


@runtime_checkable
class ChatBackend(Protocol):
    """What the answer pipeline needs from a language model."""

    name: str

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        """Yield the reply in pieces as they arrive; raise LLMError on any failure, even after some pieces."""
        ...

    def complete(self, messages: Sequence[Message]) -> str:
        """The whole reply (non-empty); raise LLMError on any failure."""
        ...


def make_backend(settings: Settings) -> ChatBackend | None:
    """The configured backend, or None when no LLM base URL is set (extractive mode)."""
    if not settings.llm_enabled:
        return None
    return OpenAICompatibleBackend(settings)


class OpenAICompatibleBackend:
    """A chat backend for any OpenAI-compatible server, through langchain's ChatOpenAI.

    Build one per process and reuse it: it owns an HTTP connection pool (`close()` releases it).
    `model=` injects any langchain chat model instead (e.g. `GenericFakeChatModel` in unit tests);
    the deadline and error handling still apply.
    """

    def __init__(self, settings: Settings, *, model: Any = None):
        self.timeout = float(settings.llm_timeout)
        if self.timeout <= 0:
            raise ConfigError(f"PUFA_LLM_TIMEOUT must be a positive number of seconds, not {settings.llm_timeout!r}")
        self._secret = settings.llm_api_key
        self._http = None
        if model is not None:
            self._model = model
            self.name = f"injected:{type(model).__name__}"
            self._where = self.name
            return
        url = urlsplit(settings.llm_base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"PUFA_LLM_BASE_URL must be an http(s) URL such as http://127.0.0.1:8000/v1, "
                              f"not {_safe_url(settings.llm_base_url)!r}")
        if not settings.llm_model:
            raise ConfigError("PUFA_LLM_MODEL is not set: name the model the server serves "
                              "(e.g. qwen2.5:7b-instruct for Ollama, the --model of vLLM)")
        self._where = f"{url.hostname}:{url.port}" if url.port else url.hostname
        self.name = f"{settings.llm_model}@{self._where}"
        self._model, self._http = self._build(settings)

    def _build(self, settings: Settings):
        try:
            import httpx
            from langchain_openai import ChatOpenAI
        except ImportError as e:
            raise ConfigError("LLM mode needs langchain-openai: pip install -r requirements.txt") from e
        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))
        # Our own client, so the connection pool is ours to close and every response passes the hook
        # that hands its socket to the deadline watchdog.
        http = httpx.Client(timeout=timeout, event_hooks={"response": [_arm_deadline]},
                            limits=httpx.Limits(max_connections=20, max_keepalive_connections=5))
        model = ChatOpenAI(base_url=settings.llm_base_url, api_key=settings.llm_api_key or PLACEHOLDER_KEY,
                           model=settings.llm_model, timeout=timeout, max_retries=0,
                           temperature=settings.llm_temperature, http_client=http,
                           # The classic `max_tokens` field: ChatOpenAI would send `max_completion_tokens`,
                           # which some OpenAI-compatible servers ignore.
                           extra_body={"max_tokens": settings.llm_max_tokens})
        # `streaming` is left unset on purpose: set to False, langchain turns .stream() into one invoke.
        return model, http

    # ---- the interface -----------------------------------------------------------------------

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        lc_messages = _to_langchain(messages)
        call = _Call(time.monotonic() + self.timeout)
        pieces = 0
        finished = False
        chunks = None
        try:
            chunks = iter(self._model.stream(lc_messages))
            while True:
                _local.call = call
                try:
                    chunk = next(chunks)
                except StopIteration:
                    break
                finally:
                    _local.call = None
                if call.expired():
                    raise _Deadline
                finished = finished or bool(chunk.response_metadata.get("finish_reason"))
                text = chunk.text
                if text:
                    pieces += 1
                    yield text
        except Exception as e:  # GeneratorExit (the consumer stopped early) is not an Exception: it passes
            raise self._failure(e, call, pieces) from (None if self._leaks(e) else e)
        finally:
            _local.call = None
            _watchdog.disarm(call)
            if chunks is not None and hasattr(chunks, "close"):
                chunks.close()
        if pieces and not finished and self._http is not None:
            raise self._error("cut", f"The reply of the language model at {self._where} stopped before its end "
                                     f"({pieces} pieces received, no finish marker)")
        if not pieces:
            raise self._error("empty", f"The language model at {self._where} returned an empty reply")

    def complete(self, messages: Sequence[Message]) -> str:
        lc_messages = _to_langchain(messages)
        call = _Call(time.monotonic() + self.timeout)
        _local.call = call
        try:
            reply = self._model.invoke(lc_messages)
            text = reply.text
        except Exception as e:
            raise self._failure(e, call, 0) from (None if self._leaks(e) else e)
        finally:
            _local.call = None
            _watchdog.disarm(call)
        if call.expired():
            raise self._error("timeout", f"The language model at {self._where} did not answer within "
                                         f"{self.timeout:g} s")
        if not text or not text.strip():
            raise self._error("empty", f"The language model at {self._where} returned an empty reply")
        return text

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> OpenAICompatibleBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpenAICompatibleBackend({self.name!r}, timeout={self.timeout:g})"

    # ---- failures ----------------------------------------------------------------------------

    def _failure(self, e: Exception, call: _Call, pieces: int) -> LLMError:
        """Translate whatever the client stack raised into one short LLMError."""
        import httpx
        import openai

        where = self._where
        chain = _chain(e)
        if isinstance(e, _Deadline) or call.expired() or any(
                isinstance(x, (openai.APITimeoutError, httpx.TimeoutException)) for x in chain):
            return self._error("timeout", f"The language model at {where} did not answer within {self.timeout:g} s"
                               + (f" ({pieces} pieces received)" if pieces else ""))
        status = next((x for x in chain if isinstance(x, openai.APIStatusError)), None)
        if status is not None:
            return self._error("http", f"The language model server at {where} answered HTTP {status.status_code}"
                               f"{_status_hint(status.status_code)}{self._server_says(status)}")
        if any(isinstance(x, httpx.ConnectError) for x in chain):
            return self._error("down", f"Cannot connect to the language model at {where}: is the server running?")
        if any(isinstance(x, (ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError,
                              openai.APIResponseValidationError)) for x in chain):
            return self._error("garbage", f"The language model server at {where} sent something that is not "
                                          f"a chat-completions reply"
                               + (f" ({pieces} pieces received)" if pieces else ""))
        if pieces or any(isinstance(x, (httpx.RemoteProtocolError, httpx.ReadError)) for x in chain):
            return self._error("cut", f"The connection to the language model at {where} broke off mid-reply"
                               + (f" ({pieces} pieces received)" if pieces else ""))
        if any(isinstance(x, openai.APIConnectionError) for x in chain):
            return self._error("down", f"Cannot connect to the language model at {where}")
        return self._error("error", f"The call to the language model at {where} failed ({type(e).__name__})")

    def _error(self, kind: str, message: str) -> LLMError:
        message = self._scrub(message)
        log.warning("LLM %s failed [%s]: %s", self.name, kind, message)
        return LLMError(message, kind)

    def _server_says(self, error) -> str:
        body = error.body if isinstance(error.body, dict) else {}
        said = body.get("message") or (body.get("error") or {}).get("message") if body else ""
        said = " ".join(str(said or "").split())[:160]
        return f": {self._scrub(said)}" if said else ""

    def _scrub(self, text: str) -> str:
        if self._secret and len(self._secret) >= 4:
            text = text.replace(self._secret, "***")
        return text

    def _leaks(self, e: BaseException) -> bool:
        """Whether chaining `e` would put the key in a traceback (a server that echoes it, say)."""
        if not self._secret or len(self._secret) < 4:
            return False
        return any(self._secret in str(x) or self._secret in repr(getattr(x, "body", None)) for x in _chain(e))


def _status_hint(status: int) -> str:
    if status in (401, 403):
        return " (the key was refused: check PUFA_LLM_API_KEY)"
    if status == 404:
        return " (check PUFA_LLM_MODEL and that PUFA_LLM_BASE_URL ends in /v1)"
    if status == 429:
        return " (rate limited)"
    if status >= 500:
        return " (a server error)"
    return ""


def _safe_url(url: str) -> str:
    """A URL without any user:password part, for messages."""
    parts = urlsplit(url)
    if parts.password or parts.username:
        return parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl()
    return url


def _chain(e: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while e is not None and e not in seen and len(seen) < 10:
        seen.append(e)
        e = e.__cause__ or e.__context__
    return seen


def _to_langchain(messages: Sequence[Message]) -> list:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    out = []
    for m in messages:
        if m.role not in kinds:
            raise ValueError(f"message role must be one of {ROLES}, not {m.role!r}")
        out.append(kinds[m.role](content=m.content))
    if not out:
        raise ValueError("no messages to send")
    return out


# ---- the whole-call deadline ---------------------------------------------------------------------

class _Deadline(Exception):
    """Raised between stream chunks when the call's deadline has passed."""


class _Call:
    __slots__ = ("deadline", "fired")

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.fired = False

    def expired(self) -> bool:
        return self.fired or time.monotonic() >= self.deadline


_local = threading.local()  # the call running on this thread, for the httpx response hook


def _arm_deadline(response) -> None:
    """httpx response hook (runs on the calling thread, headers received, body not yet read)."""
    call = getattr(_local, "call", None)
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if call is not None and sock is not None:
        _watchdog.arm(call, sock)


class _Watchdog:
    """One daemon thread for the process: shuts down the socket of a call whose deadline passed.

    Shutting a socket down wakes a read blocked on it, so a server that trickles bytes cannot hold a
    call past its deadline (a per-read timeout alone never fires while bytes keep coming).
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Call]] = []
        self._socks: dict[_Call, socket.socket] = {}
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, call: _Call, sock: socket.socket) -> None:
        with self._cond:
            self._socks[call] = sock
            heapq.heappush(self._heap, (call.deadline, next(self._seq), call))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pufa-llm-deadline", daemon=True)
                self._thread.start()
            self._cond.notify()

    def disarm(self, call: _Call) -> None:
        with self._cond:
            self._socks.pop(call, None)  # its heap entry is skipped when it comes up

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][0] <= now or self._heap[0][2] not in self._socks):
                    _, _, call = heapq.heappop(self._heap)
                    sock = self._socks.pop(call, None)
                    if sock is not None:
                        call.fired = True
                        try:
                            sock.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass  # already closed: the call ended on its own
                self._cond.wait(timeout=self._heap[0][0] - now if self._heap else None)


_watchdog = _Watchdog()
