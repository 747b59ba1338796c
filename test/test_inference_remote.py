"""The remote backend against a REAL OpenAI-compatible server on 127.0.0.1 (``transformers serve``
serving the tiny checkpoint), plus failure modes (slow server, HTTP errors, server down) against
small stand-in HTTP servers that are marked as such."""

from __future__ import annotations

import base64
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from inference_support import free_port, test_image, tiny_checkpoint_dir, tiny_engine

from vla_r1_ros.core.protocol import ParseStatus, Task, build_prompt, parse_completion
from vla_r1_ros.model.backends import (
    BackendError,
    GenerationSettings,
    RemoteChatBackend,
    encode_image_data_url,
    make_backend,
)
from vla_r1_ros.model.tiny import QWEN_SPECIAL_TOKENS


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, str]]:
    """``transformers serve`` on 127.0.0.1 with the tiny checkpoint; stopped after the module."""
    from transformers.utils.import_utils import is_serve_available

    if not is_serve_available():
        pytest.skip("transformers serve needs fastapi, uvicorn, openai (requirements/ml.txt)")
    checkpoint = str(tiny_checkpoint_dir())
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "transformers"),
        "serve",
        checkpoint,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
    ]
    log = io.BytesIO()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))
    reader = threading.Thread(target=lambda: log.write(process.stdout.read() or b""), daemon=True)  # type: ignore[union-attr]
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                reader.join(5)
                pytest.fail(f"transformers serve exited with {process.returncode}: {log.getvalue()[-2000:]!r}")
            try:
                with urllib.request.urlopen(url + "/v1/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("transformers serve did not start within 90 s")
            time.sleep(0.25)
        yield url, checkpoint
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_real_server_greedy_answers_equal_the_in_process_engine(served: tuple[str, str]) -> None:
    url, checkpoint = served
    image = test_image(11)
    settings = GenerationSettings(max_new_tokens=24)
    with RemoteChatBackend(url, checkpoint, image_format="png", server="transformers") as remote:
        result = remote.predict(image, "pick up the mug", "both", settings)
    local = tiny_engine().predict(image, "pick up the mug", "both", settings)
    assert result.backend == "remote" and [s for s, _ in result.timings] == ["preprocess", "generate", "parse"]
    assert [p.task for p in result.predictions] == [Task.AFFORDANCE, Task.TRAJECTORY]
    for remote_p, local_p in zip(result.predictions, local.predictions):
        # Same prompt, same lossless pixels, greedy: the server's text is the engine's, byte for
        # byte, except that transformers serve leaves special tokens such as <|quad_end|> in the
        # text (vLLM and the engine skip them); the random tiny model emits some.
        remote_text = remote_p.raw_text
        for token in QWEN_SPECIAL_TOKENS:
            remote_text = remote_text.replace(token, "")
        assert remote_text == local_p.raw_text
        assert remote_p.raw_text.strip()
        assert remote_p.prompt_tokens == local_p.prompt_tokens  # usage.prompt_tokens
        assert remote_p.generated_tokens == local_p.generated_tokens
        assert remote_p.stopped_by == local_p.stopped_by
        assert remote_p.parsed == parse_completion(remote_p.raw_text, remote_p.task)


def test_real_server_accepts_the_release_sampling_settings(served: tuple[str, str]) -> None:
    url, checkpoint = served
    remote = RemoteChatBackend(url, checkpoint, server="transformers")  # JPEG like the release
    result = remote.predict(
        test_image(12), "grasp the bottle", "trajectory", GenerationSettings.release(max_new_tokens=12, seed=5)
    )
    (prediction,) = result.predictions
    assert 1 <= prediction.generated_tokens <= 12
    assert isinstance(prediction.parsed.status, ParseStatus)
    remote.close()


def test_request_body_is_text_first_then_image_with_the_release_fields() -> None:
    image = test_image(13, 37, 53)
    remote = RemoteChatBackend("http://127.0.0.1:9/v1", "vla-r1")
    assert remote.endpoint == "http://127.0.0.1:9/v1/chat/completions"
    url = encode_image_data_url(image, "png")
    body = remote.request_body(
        build_prompt("open the drawer", Task.TRAJECTORY), url, GenerationSettings.release(seed=3)
    )
    (message,) = body["messages"]
    assert message["role"] == "user"
    assert [part["type"] for part in message["content"]] == ["text", "image_url"]
    assert message["content"][0]["text"] == build_prompt("open the drawer", Task.TRAJECTORY)
    assert (body["temperature"], body["top_p"], body["repetition_penalty"], body["max_tokens"], body["seed"]) == (
        0.7,
        0.9,
        1.1,
        2048,
        3,
    )
    greedy = remote.request_body("p", url, GenerationSettings(max_new_tokens=7))
    assert greedy["temperature"] == 0.0 and "repetition_penalty" not in greedy and greedy["max_tokens"] == 7
    hf = RemoteChatBackend("http://127.0.0.1:9", "vla-r1", server="transformers")
    hf_body = hf.request_body("p", url, GenerationSettings.release())
    assert "repetition_penalty" not in hf_body and abs(hf_body["frequency_penalty"] - 0.1) < 1e-12
    # The data URL carries the exact pixels (PNG); JPEG is the release's lossy default.
    from PIL import Image

    header, payload = url.split(",", 1)
    assert header == "data:image/png;base64"
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(payload))).convert("RGB"))
    assert np.array_equal(decoded, image)
    assert encode_image_data_url(image).startswith("data:image/jpeg;base64,")
    remote.close()
    hf.close()


# --------------------------------------------------------------- stand-in servers (failure modes)


class _StandIn(http.server.BaseHTTPRequestHandler):
    """STAND-IN, not a model server: replays a recorded chat-completions reply, or fails on purpose."""

    mode = "ok"
    delay_s = 0.0
    bodies: ClassVar[list[dict[str, Any]]] = []
    # A reply in the shape transformers serve / vLLM return (recorded from transformers serve, text replaced).
    recorded: ClassVar[dict[str, Any]] = {
        "id": "req-0",
        "object": "chat.completion",
        "model": "vla-r1",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": ""}}],
        "usage": {"prompt_tokens": 391, "completion_tokens": 57, "total_tokens": 448},
    }

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        type(self).bodies.append(body)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.mode == "error":
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b'{"error": "overloaded"}')
            return
        reply = json.loads(json.dumps(self.recorded))
        text = body["messages"][0]["content"][0]["text"]
        content = (
            "<think>The mug is left.</think> so, the answer is "
            '<output>{"x": 0.25, "y": 0.5, "width": 0.1, "height": 0.2}</output>'
            if "affordance" in text
            else "<think>Move up.</think> so, the answer is <output>[[0.1, 0.9], [0.4, 0.5]]</output>"
        )
        reply["choices"][0]["message"]["content"] = "not json" if self.mode == "garbage" else content
        data = json.dumps(reply).encode() if self.mode != "not_json" else b"<html>oops</html>"
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def stand_in() -> Iterator[tuple[str, type[_StandIn]]]:
    handler = type("Handler", (_StandIn,), {"bodies": [], "mode": "ok", "delay_s": 0.0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads, server.block_on_close = True, False  # do not wait for sleeping handlers
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_both_sends_two_concurrent_requests_and_parses_each(stand_in) -> None:  # type: ignore[no-untyped-def]
    url, handler = stand_in
    handler.delay_s = 0.3
    backend = make_backend(url, served_model="vla-r1")
    started = time.perf_counter()
    result = backend.predict(test_image(14), "pick up the mug", "both")
    assert time.perf_counter() - started < 0.55  # concurrent, not 2 x 0.3 s
    affordance, trajectory = result.predictions
    assert affordance.parsed.ok and affordance.parsed.box is not None and affordance.parsed.box.x == 0.25
    assert trajectory.parsed.ok and trajectory.parsed.trajectory is not None and len(trajectory.parsed.trajectory) == 2
    assert (affordance.prompt_tokens, affordance.generated_tokens, affordance.stopped_by) == (391, 57, "eos")
    assert sorted(b["messages"][0]["content"][0]["text"] for b in handler.bodies) == sorted(
        build_prompt("pick up the mug", t) for t in (Task.AFFORDANCE, Task.TRAJECTORY)
    )
    backend.close()


def test_failures_are_typed(stand_in) -> None:  # type: ignore[no-untyped-def]
    url, handler = stand_in
    backend = RemoteChatBackend(url, "vla-r1")
    handler.mode = "garbage"
    (prediction,) = backend.predict(test_image(), "pick up the mug").predictions
    assert prediction.parsed.status is ParseStatus.NO_OUTPUT_TAG and prediction.raw_text == "not json"
    handler.mode = "error"
    with pytest.raises(BackendError, match="HTTP 503"):
        backend.predict(test_image(), "pick up the mug")
    handler.mode = "not_json"
    with pytest.raises(BackendError, match="did not answer JSON"):
        backend.predict(test_image(), "pick up the mug")
    handler.mode, handler.delay_s = "ok", 1.5
    started = time.perf_counter()
    result = backend.predict(test_image(), "pick up the mug", "both", GenerationSettings(timeout_s=0.3))
    assert time.perf_counter() - started < 1.2
    assert all(p.stopped_by == "timeout" and p.parsed.status is ParseStatus.NO_OUTPUT_TAG for p in result.predictions)
    backend.close()


def test_should_stop_abandons_a_slow_request(stand_in) -> None:  # type: ignore[no-untyped-def]
    url, handler = stand_in
    handler.delay_s = 2.0
    backend = RemoteChatBackend(url, "vla-r1")
    started = time.perf_counter()
    result = backend.predict(
        test_image(), "pick up the mug", "both", should_stop=lambda: time.perf_counter() - started > 0.2
    )
    assert time.perf_counter() - started < 1.0
    assert [p.stopped_by for p in result.predictions] == ["cancelled", "cancelled"]
    backend.close()


def test_server_down_is_a_backend_error() -> None:
    backend = RemoteChatBackend(f"http://127.0.0.1:{free_port()}", "vla-r1")
    with pytest.raises(BackendError, match="cannot reach"):
        backend.predict(test_image(), "pick up the mug")
    backend.close()
