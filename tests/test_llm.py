"""The LLM backend against a loopback OpenAI-compatible stub (real protocol, real langchain client) and
against langchain's fake chat models: replies, streaming, every fault as one LLMError within the
deadline, the key never leaked, no file-descriptor or thread growth over hundreds of failures."""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback

import pytest
from openai_stub import Fault, OpenAIStub, unused_port

from pufa.answer import Message
from pufa.errors import ConfigError, LLMError
from pufa.llm import ChatBackend, OpenAICompatibleBackend, make_backend
from pufa.settings import Settings

KEY = "sk-test-5f2b9c0e7d1a"
TIMEOUT = 0.5
MARGIN = 1.5  # seconds past the deadline a failure may take to surface (thread wake-up, teardown, a loaded CI machine); the faults last several seconds
MESSAGES = [Message("system", "只依据下列来源回答。\n[1] 《大气污染防治法》第九十九条 ……"),
            Message("user", "未取得排污许可证排放大气污染物怎么处罚？")]


def settings_for(base_url: str, **changes) -> Settings:
    values = dict(llm_base_url=base_url, llm_model="qwen-test", llm_api_key=KEY, llm_timeout=TIMEOUT)
    return Settings(**{**values, **changes})


@pytest.fixture
def backend(openai_stub):
    with OpenAICompatibleBackend(settings_for(openai_stub.base_url)) as b:
        yield b


# ---- configuration -------------------------------------------------------------------------------

def test_no_base_url_means_no_backend():
    assert make_backend(Settings()) is None


@pytest.mark.parametrize("changes, problem", [
    ({"llm_model": ""}, "PUFA_LLM_MODEL"),
    ({"llm_base_url": "localhost:8000"}, "PUFA_LLM_BASE_URL"),
    ({"llm_timeout": 0.0}, "PUFA_LLM_TIMEOUT"),
])
def test_bad_configuration_is_a_config_error(changes, problem):
    base = dict(llm_base_url="http://127.0.0.1:8000/v1", llm_model="m", llm_api_key=KEY)
    with pytest.raises(ConfigError, match=problem):
        make_backend(Settings(**{**base, **changes}))


def test_backend_satisfies_the_protocol(backend):
    assert isinstance(backend, ChatBackend)
    assert backend.name.startswith("qwen-test@127.0.0.1:")


# ---- replies -------------------------------------------------------------------------------------

def test_complete_returns_the_reply_and_sends_what_it_should(backend, openai_stub):
    openai_stub.script("依据第九十九条，处十万元以上一百万元以下的罚款[1]。")
    assert backend.complete(MESSAGES) == "依据第九十九条，处十万元以上一百万元以下的罚款[1]。"
    sent = openai_stub.last
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body["model"] == "qwen-test" and not sent.body.get("stream")
    assert sent.body["temperature"] == pytest.approx(0.1) and sent.body["max_tokens"] == 1024
    assert [m["role"] for m in sent.messages] == ["system", "user", ]
    assert "《大气污染防治法》第九十九条" in sent.content("system")
    assert sent.content("user") == MESSAGES[1].content


def test_stream_yields_pieces_that_join_to_the_reply(backend, openai_stub):
    reply = "根据来源[1]，应当申领排污许可证。逾期不改正的，可以责令停业[1]。"
    openai_stub.script(reply)
    pieces = list(backend.stream(MESSAGES))
    assert len(pieces) > 5 and "".join(pieces) == reply
    assert openai_stub.last.body["stream"] is True


def test_reply_can_depend_on_the_request(openai_stub):
    openai_stub.reply = lambda messages: f"收到{len(messages)}条消息"
    with OpenAICompatibleBackend(settings_for(openai_stub.base_url)) as b:
        history = [Message("user", "问"), Message("assistant", "答"), *MESSAGES]
        assert b.complete(history) == "收到4条消息"
        assert [m["role"] for m in openai_stub.last.messages] == ["user", "assistant", "system", "user"]


def test_unknown_role_is_a_programming_error(backend):
    with pytest.raises(ValueError, match="role"):
        backend.complete([Message("tool", "x")])


def test_a_consumer_that_stops_early_leaves_the_backend_usable(backend, openai_stub):
    openai_stub.script("甲乙丙丁戊己庚辛壬癸" * 5, "第二次回答")
    stream = backend.stream(MESSAGES)
    assert next(stream)
    stream.close()
    assert backend.complete(MESSAGES) == "第二次回答"


# ---- faults: every one is an LLMError, within the deadline ------------------------------------

FAULTS = [
    # (fault, method, expected kind)
    (Fault("http", status=500), "complete", "http"),
    (Fault("http", status=500), "stream", "http"),
    (Fault("http", status=404, message="model not found"), "complete", "http"),
    (Fault("garbage"), "complete", "garbage"),
    (Fault("garbage"), "stream", "garbage"),
    (Fault("garbage_sse"), "stream", "garbage"),
    (Fault("cut"), "complete", "cut"),
    (Fault("cut", after=2), "stream", "cut"),
    (Fault("no_finish"), "stream", "cut"),
    (Fault("empty"), "complete", "empty"),
    (Fault("empty"), "stream", "empty"),
    (Fault("slow", delay=5), "complete", "timeout"),
    (Fault("slow", delay=5), "stream", "timeout"),
    (Fault("trickle", step=1, interval=0.05), "complete", "timeout"),
    (Fault("trickle", step=1, interval=0.05), "stream", "timeout"),
]


def call(backend, method: str) -> str:
    return backend.complete(MESSAGES) if method == "complete" else "".join(backend.stream(MESSAGES))


@pytest.mark.parametrize("fault, method, kind", FAULTS, ids=[f"{f.kind}-{f.status}-{m}" for f, m, _ in FAULTS])
def test_fault_is_one_llm_error_within_the_deadline(openai_stub, fault, method, kind):
    # Only the slow faults run against the short deadline: on a busy machine a fast fault must not
    # turn into a timeout.
    timeout = TIMEOUT if fault.kind in ("slow", "trickle") else 5.0
    openai_stub.script(fault)
    with OpenAICompatibleBackend(settings_for(openai_stub.base_url, llm_timeout=timeout)) as backend:
        start = time.monotonic()
        with pytest.raises(LLMError) as caught:
            call(backend, method)
        assert caught.value.kind == kind
        assert time.monotonic() - start < min(timeout, TIMEOUT) + MARGIN
        assert "127.0.0.1" in str(caught.value) and len(str(caught.value)) < 300
        assert backend.complete(MESSAGES)  # the next call is not affected


@pytest.mark.parametrize("method", ["complete", "stream"])
def test_server_down_is_an_llm_error(method):
    with OpenAICompatibleBackend(settings_for(f"http://127.0.0.1:{unused_port()}/v1")) as b:
        with pytest.raises(LLMError, match="Cannot connect") as caught:
            call(b, method)
    assert caught.value.kind == "down"


def test_stopped_server_is_down(openai_stub):
    with OpenAICompatibleBackend(settings_for(openai_stub.base_url)) as b:
        assert b.complete(MESSAGES)
        openai_stub.stop()
        with pytest.raises(LLMError) as caught:
            b.complete(MESSAGES)
    assert caught.value.kind in ("down", "cut")  # a kept-alive connection may be the one that breaks


def test_pieces_before_a_cut_reach_the_consumer(backend, openai_stub):
    openai_stub.script(Fault("cut", after=3))
    received = []
    with pytest.raises(LLMError, match="3 pieces received"):
        for piece in backend.stream(MESSAGES):
            received.append(piece)
    assert len(received) == 3


def test_a_trickling_stream_is_cut_at_the_deadline_even_while_pieces_arrive(openai_stub):
    openai_stub.script(Fault("trickle", step=200, interval=0.1))
    openai_stub.reply = "很长的回答" * 200
    with OpenAICompatibleBackend(settings_for(openai_stub.base_url)) as b:
        received, start = [], time.monotonic()
        with pytest.raises(LLMError, match="did not answer within") as caught:
            for piece in b.stream(MESSAGES):
                received.append(piece)
    assert received and caught.value.kind == "timeout"
    assert time.monotonic() - start < TIMEOUT + MARGIN


def test_one_calls_deadline_does_not_cut_another(openai_stub):
    """The watchdog shuts down the late call's connection only."""
    def reply(messages):
        time.sleep(0.05)
        return "正常回答"

    openai_stub.script(Fault("trickle", step=1, interval=0.05))
    openai_stub.reply = reply
    with OpenAICompatibleBackend(settings_for(openai_stub.base_url, llm_timeout=1.0)) as b:
        results: dict[str, object] = {}

        def slow():
            try:
                results["slow"] = "".join(b.stream(MESSAGES))
            except LLMError as e:
                results["slow"] = e

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.1)
        fast = ["".join(b.stream(MESSAGES)) for _ in range(10)]
        t.join()
    assert fast == ["正常回答"] * 10
    assert isinstance(results["slow"], LLMError) and results["slow"].kind == "timeout"


# ---- the key never leaks -------------------------------------------------------------------------

@pytest.mark.parametrize("fault", [Fault("http", status=401, message="Incorrect API key", echo_auth=True),
                                   Fault("http", status=500, echo_auth=True), Fault("garbage"), Fault("cut")])
def test_the_key_appears_in_no_message_repr_traceback_or_log(openai_stub, caplog, fault):
    caplog.set_level(logging.DEBUG)
    settings = settings_for(openai_stub.base_url)
    openai_stub.script(fault)
    with OpenAICompatibleBackend(settings) as b:
        with pytest.raises(LLMError) as caught:
            b.complete(MESSAGES)
        texts = [str(caught.value), repr(caught.value), repr(b), b.name, repr(settings),
                 "".join(traceback.format_exception(caught.value))]
    texts += [r.getMessage() for r in caplog.records]
    texts += ["".join(traceback.format_exception(*r.exc_info)) for r in caplog.records if r.exc_info]
    assert caplog.records, "the failure should be logged"
    assert openai_stub.last.headers["authorization"] == f"Bearer {KEY}"  # it was sent, to the server only
    for text in texts:
        assert KEY not in text
    if fault.status == 401:
        assert "PUFA_LLM_API_KEY" in str(caught.value)


# ---- langchain fake chat models (no server) -----------------------------------------------------

def fake_backend(model) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(Settings(llm_timeout=TIMEOUT), model=model)


def test_injected_fake_model_streams_and_completes():
    from langchain_core.language_models import GenericFakeChatModel

    reply = "第一句 [1]。 第二句 [2]。"
    b = fake_backend(GenericFakeChatModel(messages=iter([reply, reply])))
    assert b.complete(MESSAGES) == reply
    pieces = list(b.stream(MESSAGES))
    assert len(pieces) > 1 and "".join(pieces) == reply
    assert b.name == "injected:GenericFakeChatModel"


def test_injected_model_failures_are_llm_errors():
    from langchain_core.language_models import GenericFakeChatModel

    with pytest.raises(LLMError) as caught:
        fake_backend(GenericFakeChatModel(messages=iter([""]))).complete(MESSAGES)
    assert caught.value.kind == "empty"
    with pytest.raises(LLMError):  # the fake runs out of replies: StopIteration inside langchain
        fake_backend(GenericFakeChatModel(messages=iter([]))).complete(MESSAGES)


def test_injected_slow_model_hits_the_deadline_between_pieces():
    from langchain_core.language_models import GenericFakeChatModel

    class Slow(GenericFakeChatModel):
        def _stream(self, *args, **kwargs):
            for chunk in super()._stream(*args, **kwargs):
                time.sleep(0.1)
                yield chunk

    b = fake_backend(Slow(messages=iter([" ".join(["词"] * 50)])))
    start = time.monotonic()
    with pytest.raises(LLMError) as caught:
        list(b.stream(MESSAGES))
    assert caught.value.kind == "timeout" and time.monotonic() - start < TIMEOUT + MARGIN


# ---- no leaks ------------------------------------------------------------------------------------

def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settle(target: int, wait: float = 2.0) -> int:
    """Thread count once the stub's handler threads for closed connections have ended (or `wait` passed)."""
    end = time.monotonic() + wait
    while threading.active_count() > target and time.monotonic() < end:
        time.sleep(0.02)
    return threading.active_count()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files through /proc")
def test_hundreds_of_failures_leak_no_sockets_or_threads():
    n = 200  # bench/llm_faults.py runs 1,000 per fault
    with OpenAIStub() as stub:
        up = OpenAICompatibleBackend(settings_for(stub.base_url, llm_timeout=5.0))
        down = OpenAICompatibleBackend(settings_for(f"http://127.0.0.1:{unused_port()}/v1", llm_timeout=5.0))
        stub.script(Fault("http"), Fault("garbage"), Fault("cut"))
        for b in (up, up, up, down, down):  # warm up: pool, watchdog thread, lazy imports
            with pytest.raises(LLMError):
                call(b, "complete")
            with pytest.raises(LLMError):
                call(down, "stream")
        threads, fds = settle(threading.active_count()), open_fds()
        faults = [Fault("http", status=500), Fault("garbage"), Fault("garbage_sse"), Fault("cut"), Fault("empty")]
        kinds = set()
        for i in range(n):
            b = down if i % 6 == 5 else up
            if b is up:
                stub.script(faults[i % len(faults)])
            with pytest.raises(LLMError) as caught:
                call(b, "stream" if i % 2 else "complete")
            kinds.add(caught.value.kind)
        assert kinds == {"http", "garbage", "cut", "empty", "down"}
        assert open_fds() <= fds + 6  # at most a few more pooled keep-alive connections
        assert settle(threads + 6) <= threads + 6  # the stub's handler threads for those connections
        up.close()
        down.close()
