"""``vla_r1_node``: VLA-R1 on live RGB-D.

Subscribes to a colour image, registered depth and CameraInfo; answers ``~/reason`` goals (and
``~/instruction`` strings) by running VLA-R1 on the newest frame pair, lifting the answer to 3-D
in ``target_frame`` and publishing the prediction, RViz markers, the waypoints as a Path, an
annotated image and diagnostics.

One goal at a time: a goal that arrives while another runs is accepted and aborted at once with
``busy: ...`` in its result message (a rejected ROS 2 goal cannot say why). Inference runs on a
worker thread that the action's (async) execute callback awaits, so the executor keeps serving
sensor callbacks, which store only the newest frames: nothing stale queues up. Cancelling a goal,
its timeout and shutting the node down all stop generation within one model layer, prefill
included. Instructions and prompts are bounded (``max_instruction_chars``, ``max_prompt_tokens``).

Shutdown (SIGINT or SIGTERM): a running goal is aborted with "node shutting down", its worker
is joined, its result is delivered, and only then are the node and the ROS context destroyed;
the process exits 0.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import Path
from rclpy.action.server import ActionServer, CancelResponse, GoalResponse, ServerGoalHandle
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.task import Future
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header, String
from visualization_msgs.msg import MarkerArray

from vla_r1_ros.action import Reason
from vla_r1_ros.core.answer_lifting import TaskOutcome, lift_answers
from vla_r1_ros.core.frame_sync import FramePair, LatestFramePair, NoFrame, StreamCounts
from vla_r1_ros.core.geometry import (
    CameraModel,
    DepthImage,
    DepthScene,
    ImageSizeError,
    check_colour_size,
    register_depth,
    warm_up,
)
from vla_r1_ros.core.geometry.transforms import pose_from_xyz_quaternion
from vla_r1_ros.core.overlay import draw_prediction
from vla_r1_ros.core.protocol import Task
from vla_r1_ros.model.backends import (
    Backend,
    BackendError,
    GenerationSettings,
    InferenceResult,
    InputTooLarge,
    check_instruction,
    make_backend,
    resolve_tasks,
)
from vla_r1_ros.msg import Prediction as PredictionMsg
from vla_r1_ros.ros.conversions import prediction_msg, set_lifted_target, waypoints_path
from vla_r1_ros.ros.images import ImageEncodingError, image_to_rgb, rgb_to_image_fields
from vla_r1_ros.ros.markers import prediction_markers
from vla_r1_ros.ros.node_main import run_node
from vla_r1_ros.ros.tf_adapter import (
    StaticTransformSource,
    Tf2TransformSource,
    TransformSource,
    TransformUnavailable,
)
from vla_r1_ros.ros.vla_r1_node_parameters import NodeSettings, declare_settings

__all__ = ["NodeSettings", "VlaR1Node", "main"]

_STAGE_NAMES = {
    Reason.Feedback.STAGE_WAITING_FOR_FRAME: "waiting for frame",
    Reason.Feedback.STAGE_GENERATING: "generating",
    Reason.Feedback.STAGE_PARSING: "parsing",
    Reason.Feedback.STAGE_LIFTING: "lifting",
}


class GoalFailure(Exception):
    """Ends a goal with a clear reason; the node keeps serving."""


def _stamp_seconds(header: Header) -> float:
    return float(header.stamp.sec) + float(header.stamp.nanosec) * 1e-9


class VlaR1Node(Node):
    """The reasoning node. ``backend`` may be injected (tests, embedding)."""

    def __init__(self, backend: Backend | None = None, **node_options: Any) -> None:
        super().__init__("vla_r1_node", **node_options)
        self.settings = declare_settings(self)
        if self.settings.use_depth:
            # Lifting's compiled stages load here (on a machine's first run: compile, ~30 s), not
            # inside the first goal, whose deadline they would eat.
            warm_up()
        self._backend = backend if backend is not None else self._load_backend()
        self._transforms = self._make_transform_source()
        self._frames: LatestFramePair[Image, Image] = LatestFramePair(
            self.settings.stamp_tolerance, self.settings.max_frame_age, require_depth=self.settings.use_depth
        )
        self._frames_lock = threading.Lock()
        self._camera_info: CameraInfo | None = None
        self._camera_cache: tuple[tuple[Any, ...], CameraModel] | None = None
        self._busy = threading.Lock()
        # Shutdown: stop asks running goals to end; workers are joined before anything is destroyed.
        self._stopping = threading.Event()
        self._workers: set[threading.Thread] = set()
        self._workers_lock = threading.Lock()
        self._outputs_lock = threading.Lock()  # no publish can race destroy_node
        self._destroyed = False
        self._last_latencies: list[tuple[str, float]] = []
        self._last_status = "idle"
        self._goals_served = 0

        sensors = ReentrantCallbackGroup()
        self._work_group = MutuallyExclusiveCallbackGroup()
        s = self.settings
        self.create_subscription(Image, s.color_topic, self._on_color, qos_profile_sensor_data, callback_group=sensors)
        if s.use_depth:
            self.create_subscription(
                Image, s.depth_topic, self._on_depth, qos_profile_sensor_data, callback_group=sensors
            )
        self.create_subscription(
            CameraInfo, s.camera_info_topic, self._on_camera_info, qos_profile_sensor_data, callback_group=sensors
        )
        self.create_subscription(String, "~/instruction", self._on_instruction, 10, callback_group=sensors)
        self._prediction_pub = self.create_publisher(PredictionMsg, "~/prediction", 10)
        self._markers_pub = self.create_publisher(MarkerArray, "~/markers", 10)
        self._path_pub = self.create_publisher(Path, "~/waypoints", 10)
        self._image_pub = self.create_publisher(Image, "~/annotated_image", 10)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._action = ActionServer(
            self,
            Reason,
            "~/reason",
            execute_callback=self._execute,
            goal_callback=lambda _goal: GoalResponse.ACCEPT,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=self._work_group,
        )
        self.create_timer(1.0, self._publish_diagnostics, callback_group=sensors)
        self.get_logger().info(
            f"vla_r1_node ready: model {self._backend.model_id} ({self._backend.name}), colour {s.color_topic}, "
            f"depth {s.depth_topic if s.use_depth else 'off'}, info {s.camera_info_topic}, "
            f"target frame {s.target_frame}"
        )

    # ------------------------------------------------------------------ setup
    def _load_backend(self) -> Backend:
        self.get_logger().info(f"loading VLA-R1 from {self.settings.model} ...")
        return make_backend(self.settings.model, device=self.settings.device)

    def _make_transform_source(self) -> TransformSource:
        if self.settings.static_camera_transform:
            mount = pose_from_xyz_quaternion(self.settings.static_camera_transform)
            return StaticTransformSource(self.settings.target_frame, mount)
        try:
            return Tf2TransformSource(self)
        except ImportError as missing:
            self.get_logger().warning(f"{missing}; until then 3-D goals fail")
            return _NoTransforms(str(missing))

    # ------------------------------------------------------------------ sensor callbacks
    def _on_color(self, message: Image) -> None:
        with self._frames_lock:
            self._frames.add_color(_stamp_seconds(message.header), message)

    def _on_depth(self, message: Image) -> None:
        with self._frames_lock:
            self._frames.add_depth(_stamp_seconds(message.header), message)

    def stream_counts(self) -> StreamCounts:
        """Frames received so far, and colour frames that found their depth (also on /diagnostics)."""
        with self._frames_lock:
            return self._frames.counts

    def _on_camera_info(self, message: CameraInfo) -> None:
        self._camera_info = message

    def _on_instruction(self, message: String) -> None:
        try:
            self._start_worker(self._run_instruction, message.data)
        except GoalFailure as refused:
            self.get_logger().warning(f"~/instruction {message.data[:80]!r}: {refused}")

    def _run_instruction(self, instruction: str) -> None:
        outcome = self._serve(instruction, self.settings.default_task, lambda _stage: None, self._stopping.is_set)
        # Two call sites: rclpy refuses a change of severity at one.
        if outcome.success:
            self.get_logger().info(f"~/instruction {instruction!r}: done")
        else:
            self.get_logger().warning(f"~/instruction {instruction!r}: {outcome.message}")

    # ------------------------------------------------------------------ workers and shutdown
    def _start_worker(self, target: Callable[..., None], *args: Any) -> None:
        def run() -> None:
            try:
                target(*args)
            finally:
                with self._workers_lock:
                    self._workers.discard(threading.current_thread())

        thread = threading.Thread(target=run, name="vla_r1_goal", daemon=True)
        with self._workers_lock:
            if self._stopping.is_set():
                raise GoalFailure("node shutting down")
            self._workers.add(thread)
        thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """End running goals ("node shutting down") and join their workers; True when all ended.

        Generation stops within one model layer, so ``timeout`` only matters for a backend that
        cannot be interrupted (a remote server's reply, at most its ``generation_timeout``).
        """
        self._stopping.set()
        deadline = time.monotonic() + timeout
        with self._workers_lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return not any(worker.is_alive() for worker in workers)

    # ------------------------------------------------------------------ goals
    async def _execute(self, goal_handle: ServerGoalHandle) -> Reason.Result:
        # The goal runs on a worker thread; the executor only awaits it, so sensor callbacks,
        # cancel requests and other goals are served meanwhile whatever executor spins the node.
        executor = self.executor
        done: Future = Future(executor=executor)

        def work() -> None:
            try:
                done.set_result(self._run_goal(goal_handle))
            except BaseException as err:
                done.set_exception(err)
            if executor is not None:
                executor.wake()  # resume the awaiting task now, not at the next sensor message

        try:
            self._start_worker(work)
        except GoalFailure as refused:
            goal_handle.abort()
            return Reason.Result(success=False, message=str(refused))
        result: Reason.Result = await done
        return result

    def _run_goal(self, goal_handle: ServerGoalHandle) -> Reason.Result:
        started = time.monotonic()

        def feedback(stage: int) -> None:
            goal_handle.publish_feedback(
                Reason.Feedback(stage=stage, stage_name=_STAGE_NAMES[stage], elapsed=time.monotonic() - started)
            )

        request = goal_handle.request
        def cancelled() -> bool:
            return goal_handle.is_cancel_requested or self._stopping.is_set()

        result = self._serve(request.instruction, request.task, feedback, cancelled)
        if self._stopping.is_set() and not result.success:
            goal_handle.abort()
        elif goal_handle.is_cancel_requested and not result.success:
            goal_handle.canceled()
        elif result.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    def _serve(
        self, instruction: str, task: str, feedback: Callable[[int], None], cancelled: Callable[[], bool]
    ) -> Reason.Result:
        if not self._busy.acquire(blocking=False):
            return Reason.Result(
                success=False, message="busy: another goal is being served; send it again when that one ends"
            )
        try:
            return self._reason(instruction, task, feedback, cancelled)
        except GoalFailure as failure:
            return self._fail(str(failure))
        except Exception as err:  # the node must survive anything one goal does
            self.get_logger().error(traceback.format_exc())
            return self._fail(f"internal error: {type(err).__name__}: {err}")
        finally:
            self._busy.release()

    def _fail(self, message: str, predictions: list[PredictionMsg] | None = None) -> Reason.Result:
        self._last_status = f"goal failed: {message}"
        self.get_logger().warning(message)
        return Reason.Result(success=False, message=message, predictions=predictions or [])

    def _reason(
        self, instruction: str, task: str, feedback: Callable[[int], None], cancelled: Callable[[], bool]
    ) -> Reason.Result:
        if not instruction.strip():
            raise GoalFailure("empty instruction: say what the robot should act on")
        try:
            check_instruction(instruction, self.settings.max_instruction_chars)
            tasks = resolve_tasks(task or "affordance")
        except (InputTooLarge, ValueError) as err:
            raise GoalFailure(str(err)) from None
        feedback(Reason.Feedback.STAGE_WAITING_FOR_FRAME)
        pair, info, frame_age = self._wait_for_frame(cancelled)
        try:
            rgb = image_to_rgb(pair.color)
        except ImageEncodingError as err:
            raise GoalFailure(f"colour image unusable: {err}") from None
        scene = self._scene(pair, info) if self.settings.use_depth else None

        feedback(Reason.Feedback.STAGE_GENERATING)
        inference = self._generate(rgb, instruction, tasks, cancelled)
        if self._stopping.is_set():
            return Reason.Result(success=False, message="node shutting down: goal aborted during generation")
        if cancelled():
            return Reason.Result(success=False, message="canceled during generation")
        feedback(Reason.Feedback.STAGE_PARSING)
        answers = {p.task: p.parsed for p in inference.predictions}
        timeouts = [p for p in inference.predictions if p.stopped_by == "timeout"]
        feedback(Reason.Feedback.STAGE_LIFTING)
        lift_started = time.perf_counter()
        outcomes = lift_answers(answers, scene, self.settings.lift)
        latencies = [("frame_age", frame_age), *inference.timings, ("lift", time.perf_counter() - lift_started)]
        messages = self._publish(pair, rgb, instruction, inference, outcomes, latencies)
        self._last_latencies = latencies
        self._goals_served += 1
        if timeouts:
            return self._fail(
                f"model timed out after {self.settings.generation_timeout:.1f} s "
                f"({timeouts[0].generated_tokens} tokens generated); "
                f"answer: {timeouts[0].parsed.error or 'incomplete'}",
                messages,
            )
        failures = [o for o in outcomes if not o.ok]
        if failures:
            return self._fail(_partial_failure(outcomes, failures), messages)
        self._last_status = "ok"
        return Reason.Result(success=True, message="", predictions=messages)

    def _wait_for_frame(
        self, cancelled: Callable[[], bool]
    ) -> tuple[FramePair[Image, Image], CameraInfo | None, float]:
        """The newest usable pair, its CameraInfo and the pair's age when it was chosen."""
        deadline = time.monotonic() + self.settings.frame_wait_timeout
        while True:
            now = self.get_clock().now().nanoseconds * 1e-9
            with self._frames_lock:
                pair = self._frames.latest(now)
            info = self._camera_info
            if isinstance(pair, FramePair) and (info is not None or not self.settings.use_depth):
                return pair, info, now - pair.stamp
            if self._stopping.is_set():
                raise GoalFailure("node shutting down: goal aborted while waiting for a frame")
            if cancelled():
                raise GoalFailure("canceled while waiting for a frame")
            if time.monotonic() > deadline:
                reason = (
                    pair.reason
                    if isinstance(pair, NoFrame)
                    else f"no CameraInfo received on {self.settings.camera_info_topic}"
                )
                raise GoalFailure(f"no usable frame within {self.settings.frame_wait_timeout:.1f} s: {reason}")
            time.sleep(0.01)

    def _camera(self, info: CameraInfo) -> CameraModel:
        key = (tuple(info.k), tuple(info.d), tuple(info.r), tuple(info.p), info.width, info.height,
               info.distortion_model, info.binning_x, info.binning_y, info.roi.x_offset, info.roi.y_offset,
               info.roi.width, info.roi.height, info.header.frame_id)  # fmt: skip
        if self._camera_cache is None or self._camera_cache[0] != key:
            self._camera_cache = (key, CameraModel.from_camera_info(info))
        return self._camera_cache[1]

    def _scene(self, pair: FramePair[Image, Image], info: CameraInfo | None) -> DepthScene:
        if info is None or pair.depth is None:
            raise GoalFailure("depth lifting needs CameraInfo and a depth image")
        # scene_from_frame's steps, with the TF lookup last: a frame that cannot be lifted fails
        # at once instead of after waiting up to tf_timeout for its transform.
        try:
            camera = self._camera(info)
            check_colour_size(camera, (pair.color.width, pair.color.height))
            registered = register_depth(DepthImage.from_image_msg(pair.depth, self.settings.depth_range), camera)
        except ImageSizeError as err:
            raise GoalFailure(str(err)) from None
        except ValueError as err:  # encoding, registration and camera model errors
            raise GoalFailure(f"depth unusable: {err}") from None
        optical_frame = pair.color.header.frame_id
        try:
            transform = self._transforms.lookup(
                self.settings.target_frame,
                optical_frame,
                Time.from_msg(pair.color.header.stamp),
                self.settings.tf_timeout,
            )
        except TransformUnavailable as err:
            raise GoalFailure(f"TF unavailable: {err}") from None
        return DepthScene(registered, transform, base_frame=self.settings.target_frame, optical_frame=optical_frame)

    def _generate(
        self, rgb: np.ndarray, instruction: str, tasks: tuple[Task, ...], cancelled: Callable[[], bool]
    ) -> InferenceResult:
        settings = GenerationSettings(
            max_new_tokens=self.settings.max_new_tokens,
            timeout_s=self.settings.generation_timeout,
            max_instruction_chars=self.settings.max_instruction_chars,
            max_prompt_tokens=self.settings.max_prompt_tokens,
        )
        task_arg: Any = tasks[0] if len(tasks) == 1 else "both"
        try:
            return self._backend.predict(rgb, instruction, task_arg, settings, should_stop=cancelled)
        except InputTooLarge as err:
            raise GoalFailure(str(err)) from None
        except BackendError as err:
            raise GoalFailure(f"model error: {err}") from None

    # ------------------------------------------------------------------ outputs
    def _publish(
        self,
        pair: FramePair[Image, Image],
        rgb: np.ndarray,
        instruction: str,
        inference: InferenceResult,
        outcomes: list[TaskOutcome],
        latencies: list[tuple[str, float]],
    ) -> list[PredictionMsg]:
        header = pair.color.header
        target_header = Header(stamp=header.stamp, frame_id=self.settings.target_frame)
        with self._outputs_lock:
            if self._destroyed:
                raise GoalFailure("node shutting down: outputs not published")
            messages = self._publish_predictions(header, target_header, instruction, inference, outcomes, latencies)
            self._publish_lifted(target_header, inference, outcomes)
            answers = [(p.task.value, p.parsed) for p in inference.predictions]
            self._image_pub.publish(Image(header=header, **rgb_to_image_fields(draw_prediction(rgb, answers))))
        return messages

    def _publish_predictions(
        self,
        header: Header,
        target_header: Header,
        instruction: str,
        inference: InferenceResult,
        outcomes: list[TaskOutcome],
        latencies: list[tuple[str, float]],
    ) -> list[PredictionMsg]:
        """One Prediction per answered task, with its lifted target or waypoints attached."""
        by_task = {o.task: o for o in outcomes}
        messages: list[PredictionMsg] = []
        for prediction in inference.predictions:
            outcome = by_task.get(prediction.task)
            message = prediction_msg(
                header=header,
                instruction=instruction,
                task=prediction.task,
                raw_output=prediction.raw_text,
                parsed=prediction.parsed,
                image_width=inference.image_width,
                image_height=inference.image_height,
                latencies=latencies,
                model_id=inference.model_id,
            )
            if outcome is not None:
                self._attach_lift(message, outcome, target_header)
            messages.append(message)
            self._prediction_pub.publish(message)
        return messages

    def _publish_lifted(self, target_header: Header, inference: InferenceResult, outcomes: list[TaskOutcome]) -> None:
        """RViz markers of the lifted answer and, when it passed the checks, its waypoints."""
        lifted = [o for o in outcomes if o.target is not None or o.path is not None]
        if not lifted:
            return
        best = lifted[-1]  # the trajectory when both were asked: it ends at the affordance grasp
        reasoning = " / ".join(p.parsed.reasoning for p in inference.predictions if p.parsed.reasoning)
        self._markers_pub.publish(prediction_markers(target_header, best.target, best.path, reasoning))
        if best.path is not None and best.ok:
            self._path_pub.publish(waypoints_path(best.path, target_header))

    def _attach_lift(self, message: PredictionMsg, outcome: TaskOutcome, target_header: Header) -> None:
        if outcome.task is Task.AFFORDANCE and outcome.target is not None and message.has_affordance:
            set_lifted_target(message.affordance, outcome.target, outcome.depth_coverage)
        elif message.has_affordance:
            message.affordance.lift_status = outcome.lift_status or outcome.error
        if outcome.path is not None and outcome.ok:
            message.waypoints = waypoints_path(outcome.path, target_header)

    def _publish_diagnostics(self) -> None:
        status = DiagnosticStatus(
            level=DiagnosticStatus.OK if self._last_status in ("ok", "idle") else DiagnosticStatus.WARN,
            name="vla_r1_node: reasoning",
            message=self._last_status,
            hardware_id=self._backend.model_id,
        )
        counts = self.stream_counts()
        status.values = [
            KeyValue(key="goals_served", value=str(self._goals_served)),
            KeyValue(key="busy", value=str(self._busy.locked())),
            KeyValue(key="frames_color", value=str(counts.color)),
            KeyValue(key="frames_depth", value=str(counts.depth)),
            KeyValue(key="frame_pairs", value=str(counts.pairs)),
        ]
        status.values += [
            KeyValue(key=f"latency_{stage}_s", value=f"{seconds:.4f}") for stage, seconds in self._last_latencies
        ]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)

    def destroy_node(self) -> None:
        if not self.stop():
            self.get_logger().warning("a goal's worker did not end in time; its outputs are dropped")
        with self._outputs_lock:
            self._destroyed = True
        self._action.destroy()
        self._backend.close()
        super().destroy_node()


def _partial_failure(outcomes: list[TaskOutcome], failures: list[TaskOutcome]) -> str:
    """Names the failed half of a two-task goal, and says the other half is still returned."""
    message = "; ".join(f"{o.task.value} failed: {o.error}" for o in failures)
    kept = [o.task.value for o in outcomes if o.ok]
    if kept:
        message += f" ({' and '.join(kept)} succeeded and is returned)"
    return message


class _NoTransforms:
    """The transform source where tf2_ros is missing: every lookup says why."""

    def __init__(self, reason: str) -> None:
        self._reason = reason

    def lookup(self, target_frame: str, source_frame: str, stamp: Time, timeout_s: float) -> np.ndarray:
        raise TransformUnavailable(self._reason)


def main(args: list[str] | None = None) -> None:
    # Goals run on worker threads (see _execute), so one executor thread is enough; rclpy
    # 7.1's MultiThreadedExecutor also delivered only part of a 30 Hz RGB-D stream.
    run_node(VlaR1Node, args)


if __name__ == "__main__":
    main()
