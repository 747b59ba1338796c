"""A tabletop world with a Franka Panda, seeded objects and an RGB-D camera, in pybullet (no ROS).

The world frame is the robot base frame (REP 103, z up) with the table top at z = 0, as in
:mod:`vla_r1_ros.sim.scene`, whose capture code renders the camera here (exact intrinsics,
registered depth, ROS optical frame). Time is simulated: nothing advances unless :meth:`step`
is called, so runs are as fast as the CPU allows and reproducible: :meth:`reset` with a seed
rebuilds the same world bit for bit.

The arm and the fingers are position-controlled joints holding their last command, as a
ros2_control position interface would; :mod:`vla_r1_ros.sim.panda_control` plays trajectories
and gripper commands through :meth:`command_arm` and :meth:`command_fingers`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from vla_r1_ros.core.geometry.transforms import matrix_from_quaternion, quaternion_from_matrix
from vla_r1_ros.sim.panda_model import (
    ARM_JOINT_INDICES,
    FINGER_JOINT_INDICES,
    JOINT_NAMES,
    READY_POSITIONS,
    TCP_LINK,
    PybulletClient,
    load_panda,
)
from vla_r1_ros.sim.pick_scenes import PickScene, TableObject, sample_pick_scene, triangle_corners
from vla_r1_ros.sim.scene import Intrinsics, RenderedScene, capture_rgbd, look_at, observed_truth

__all__ = ["top_down_camera_pose", "CameraSetup", "JointStateSample", "WorldSettings", "PandaWorld"]

# Effort limits of the URDF (N m for the arm, N for the fingers): what position control may apply.
_ARM_FORCES = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)
_TABLE_RGBA = (0.75, 0.72, 0.65, 1.0)


def top_down_camera_pose(centre: tuple[float, float] = (0.5, 0.0), height: float = 0.9) -> np.ndarray:
    """T_world_optical of a camera looking straight down at ``centre`` from ``height``, with the image
    axes of the 2-D training scenes' top-down frames: image right is world -y, image down world -x
    (the robot at the bottom of the image)."""
    pose = np.eye(4)
    pose[:3, :3] = [[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]
    pose[:3, 3] = (centre[0], centre[1], height)
    return pose


@dataclass(frozen=True, eq=False)
class CameraSetup:
    """A fixed RGB-D camera: intrinsics and pose (ROS optical frame in the world).

    The default looks straight down from 0.9 m and frames the workspace tightly: 640 x 480 with a
    27 degree vertical field of view over (0.46, 0) sees the table from x 0.24 to 0.68 m and y
    -0.29 to 0.29 m, which holds every pick scene's objects and the places a carry puts them
    (down to x 0.27 m). Why so tight: the embedded model sees the frame at 224 x 168 pixels
    (its processor), where the objects then span 16-24 pixels; the earlier 42 degree view left
    them at 8-12 pixels of a 112-pixel-wide image. The arm at its ready pose is outside the
    image: its hand, 0.3-0.4 m below the camera at x 0.31 m, is 2-5 cm beyond what the view
    covers at that height (no robot pixel in the frame).
    ``oblique()`` is a camera in front of the table looking down at 40 degrees.
    """

    intrinsics: Intrinsics = field(default_factory=lambda: Intrinsics.from_vertical_fov(640, 480, 27.0))
    T_world_optical: np.ndarray = field(default_factory=lambda: top_down_camera_pose((0.46, 0.0), 0.9))
    near: float = 0.05
    far: float = 5.0

    @classmethod
    def oblique(cls) -> CameraSetup:
        return cls(Intrinsics.from_vertical_fov(640, 480, 42.0), look_at((1.05, 0.0, 0.75), (0.5, 0.0, 0.02)))


@dataclass(frozen=True)
class WorldSettings:
    """Physics settings. ``settle_time``: simulated seconds the world runs after a reset, arm held."""

    time_step: float = 1.0 / 480.0
    solver_iterations: int = 100
    object_mass: float = 0.08
    friction: float = 1.0
    settle_time: float = 0.2


@dataclass(frozen=True)
class JointStateSample:
    """sensor_msgs/JointState's content: names (arm then fingers), positions, velocities, efforts, sim time."""

    names: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray
    stamp: float


class PandaWorld(PybulletClient):
    """The Panda, a table and the objects of a :class:`PickScene` in a private pybullet client."""

    def __init__(self, camera: CameraSetup | None = None, settings: WorldSettings | None = None) -> None:
        super().__init__()
        self.camera = camera or CameraSetup()
        self.settings = settings or WorldSettings()
        self.scene: PickScene | None = None
        self.robot = self.table = -1
        self._objects: dict[str, int] = {}
        self.time = 0.0
        self._steps = 0
        self.table_contacts: set[str] = set()  # arm links that touched the table since the last reset
        self.last_frame: RenderedScene | None = None  # the latest render (what an oracle may look up)
        # Called after every physics step (a ROS node publishes joint states and camera frames from
        # here while a trajectory plays); called on the thread that steps the world.
        self.step_listeners: list[Callable[[PandaWorld], None]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def reset(self, seed: int, scene: PickScene | None = None) -> PickScene:
        """Rebuild the world for ``scene`` (default: :func:`sample_pick_scene` of ``seed``): the arm at
        its ready pose with the fingers open, the objects standing still. Same seed, same world."""
        p, cid = self._p, self._client
        scene = scene or sample_pick_scene(seed)
        p.resetSimulation(physicsClientId=cid)
        p.setPhysicsEngineParameter(
            fixedTimeStep=self.settings.time_step,
            numSolverIterations=self.settings.solver_iterations,
            deterministicOverlappingPairs=1,
            physicsClientId=cid,
        )
        p.setGravity(0.0, 0.0, -9.81, physicsClientId=cid)
        self.table = self._add_table()
        self.robot = load_panda(p, cid)
        self._configure_robot()
        self._objects = {obj.name: self._add_object(obj) for obj in scene.objects}
        self.scene, self.time, self._steps = scene, 0.0, 0
        self.step(round(self.settings.settle_time / self.settings.time_step))
        self.table_contacts = set()
        self.last_frame = None
        return scene

    def _add_table(self) -> int:
        p, cid = self._p, self._client
        half = [1.0, 1.0, 0.02]
        shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=cid)
        visual = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=list(_TABLE_RGBA), physicsClientId=cid)
        body: int = p.createMultiBody(0, shape, visual, [0.4, 0.0, -half[2]], physicsClientId=cid)
        p.changeDynamics(body, -1, lateralFriction=self.settings.friction, physicsClientId=cid)
        return body

    def _configure_robot(self) -> None:
        p, cid, robot = self._p, self._client, self.robot
        for joint, value in zip(ARM_JOINT_INDICES, READY_POSITIONS):
            p.resetJointState(robot, joint, value, physicsClientId=cid)
        for joint in FINGER_JOINT_INDICES:
            p.resetJointState(robot, joint, 0.04, physicsClientId=cid)
            p.changeDynamics(
                robot, joint, lateralFriction=self.settings.friction, spinningFriction=0.001, physicsClientId=cid
            )
        # The Franka hand's fingers move together (one motor, mirrored): a gear keeps them symmetric,
        # so an off-centre grasp pushes the object to the middle instead of pinning it on one finger.
        gear = p.createConstraint(
            robot, FINGER_JOINT_INDICES[0], robot, FINGER_JOINT_INDICES[1], p.JOINT_GEAR, [1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], physicsClientId=cid,
        )
        p.changeConstraint(gear, gearRatio=-1, erp=0.1, maxForce=50, physicsClientId=cid)
        self.command_arm(READY_POSITIONS)
        self.command_fingers(0.04, 20.0)

    def _add_object(self, obj: TableObject) -> int:
        p, cid = self._p, self._client
        if obj.shape == "circle":
            radius = obj.width / 2
            shape = p.createCollisionShape(p.GEOM_CYLINDER, radius=radius, height=obj.height, physicsClientId=cid)
            visual = p.createVisualShape(
                p.GEOM_CYLINDER, radius=radius, length=obj.height, rgbaColor=list(obj.rgba), physicsClientId=cid
            )
        elif obj.shape == "square":
            half = [obj.width / 2, obj.width / 2, obj.height / 2]
            shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=cid)
            visual = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=list(obj.rgba), physicsClientId=cid)
        else:
            vertices, indices, normals = _prism_mesh(obj.width, obj.height)
            shape = p.createCollisionShape(p.GEOM_MESH, vertices=vertices, physicsClientId=cid)
            visual = p.createVisualShape(
                p.GEOM_MESH, vertices=vertices, indices=indices, normals=normals, rgbaColor=list(obj.rgba),
                physicsClientId=cid,
            )
        orientation = p.getQuaternionFromEuler([0.0, 0.0, obj.yaw])
        body: int = p.createMultiBody(
            self.settings.object_mass, shape, visual, [obj.xy[0], obj.xy[1], obj.height / 2], orientation,
            physicsClientId=cid,
        )
        p.changeDynamics(
            body, -1, lateralFriction=self.settings.friction, spinningFriction=0.001, rollingFriction=0.0,
            physicsClientId=cid,
        )
        return body

    # -- commands and time -------------------------------------------------------------------

    def command_arm(self, positions: ArrayLike, velocities: ArrayLike | None = None) -> None:
        """Position targets (and feed-forward velocities) for the 7 arm joints, held until changed."""
        q = np.asarray(positions, dtype=float)
        v = np.zeros(7) if velocities is None else np.asarray(velocities, dtype=float)
        if q.shape != (7,) or v.shape != (7,) or not (np.all(np.isfinite(q)) and np.all(np.isfinite(v))):
            raise ValueError("arm commands need 7 finite positions (and velocities)")
        self._p.setJointMotorControlArray(
            self.robot, list(ARM_JOINT_INDICES), self._p.POSITION_CONTROL, targetPositions=q.tolist(),
            targetVelocities=v.tolist(), forces=list(_ARM_FORCES), physicsClientId=self._client,
        )

    def command_fingers(self, position: float, max_effort: float) -> None:
        """Both fingers to ``position`` (0-0.04 m each), pushing with at most ``max_effort`` N, held until changed."""
        if not (math.isfinite(position) and math.isfinite(max_effort) and max_effort >= 0.0):
            raise ValueError("the finger command needs a finite position and a finite effort >= 0")
        target = min(0.04, max(0.0, position))
        self._p.setJointMotorControlArray(
            self.robot, list(FINGER_JOINT_INDICES), self._p.POSITION_CONTROL, targetPositions=[target, target],
            forces=[max_effort, max_effort], physicsClientId=self._client,
        )

    def step(self, count: int = 1) -> None:
        """Advance the simulation ``count`` steps, noting any arm link that touches the table."""
        p, cid = self._p, self._client
        for _ in range(count):
            p.stepSimulation(physicsClientId=cid)
            self._steps += 1
            for contact in p.getContactPoints(self.robot, self.table, physicsClientId=cid):
                if contact[3] >= 0:  # link -1 is panda_link0, the base bolted to the table
                    self.table_contacts.add(self._link_name(contact[3]))
            self.time = self._steps * self.settings.time_step
            for listener in self.step_listeners:
                listener(self)

    # -- state -------------------------------------------------------------------------------

    def joint_state(self) -> JointStateSample:
        """Arm and finger joints, in ROS names and order."""
        joints = list(ARM_JOINT_INDICES + FINGER_JOINT_INDICES)
        states = self._p.getJointStates(self.robot, joints, physicsClientId=self._client)
        return JointStateSample(
            JOINT_NAMES,
            np.array([s[0] for s in states]),
            np.array([s[1] for s in states]),
            np.array([s[3] for s in states]),
            self.time,
        )

    def arm_positions(self) -> np.ndarray:
        return self.joint_state().position[:7]

    def tcp_pose(self) -> np.ndarray:
        """4x4 world pose of the tool centre point (``panda_grasptarget``)."""
        state = self._p.getLinkState(self.robot, TCP_LINK, computeForwardKinematics=True, physicsClientId=self._client)
        pose = np.eye(4)
        pose[:3, :3] = matrix_from_quaternion(np.array(state[5]))
        pose[:3, 3] = state[4]
        return pose

    def link_transforms(self) -> list[tuple[str, str, np.ndarray]]:
        """(parent link, child link, 4x4 T_parent_child) for every joint of the arm: what
        robot_state_publisher puts on /tf. The root is ``panda_link0`` at the world origin."""
        p, cid = self._p, self._client
        count = p.getNumJoints(self.robot, physicsClientId=cid)
        states = p.getLinkStates(self.robot, list(range(count)), computeForwardKinematics=True, physicsClientId=cid)
        world = {-1: np.eye(4)}
        for link, state in enumerate(states):
            pose = np.eye(4)
            pose[:3, :3] = matrix_from_quaternion(np.array(state[5]))
            pose[:3, 3] = state[4]
            world[link] = pose
        names = {-1: p.getBodyInfo(self.robot, physicsClientId=cid)[0].decode()}
        out = []
        for joint in range(count):
            info = p.getJointInfo(self.robot, joint, physicsClientId=cid)
            names[joint] = info[12].decode()
            parent = int(info[16])
            out.append((names[parent], names[joint], np.linalg.inv(world[parent]) @ world[joint]))
        return out

    def object_names(self) -> tuple[str, ...]:
        return tuple(self._objects)

    def object_pose(self, name: str) -> np.ndarray:
        """Ground-truth 4x4 world pose of an object's frame (footprint centre or centroid, mid-height)."""
        if name not in self._objects:
            raise KeyError(f"no object named {name!r}; have {list(self._objects)}")
        position, orientation = self._p.getBasePositionAndOrientation(self._objects[name], physicsClientId=self._client)
        pose = np.eye(4)
        pose[:3, :3] = matrix_from_quaternion(np.array(orientation))
        pose[:3, 3] = position
        return pose

    def object_poses(self) -> dict[str, np.ndarray]:
        return {name: self.object_pose(name) for name in self._objects}

    def move_object(self, name: str, pose: np.ndarray) -> None:
        """Put an object at a 4x4 world pose, at rest (a scene change behind the robot's back)."""
        if name not in self._objects:
            raise KeyError(f"no object named {name!r}; have {list(self._objects)}")
        self._p.resetBasePositionAndOrientation(
            self._objects[name], pose[:3, 3].tolist(), quaternion_from_matrix(pose[:3, :3]).tolist(),
            physicsClientId=self._client,
        )
        self._p.resetBaseVelocity(self._objects[name], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], physicsClientId=self._client)

    def finger_contacts(self) -> dict[str, frozenset[str]]:
        """For each finger link name, the objects it touches now."""
        out = {}
        for joint in FINGER_JOINT_INDICES:
            touching = {
                name
                for name, body in self._objects.items()
                if self._p.getContactPoints(self.robot, body, joint, -1, physicsClientId=self._client)
            }
            out[self._link_name(joint)] = frozenset(touching)
        return out

    def held_objects(self) -> frozenset[str]:
        """Objects both fingers touch now."""
        left, right = self.finger_contacts().values()
        return left & right

    def _link_name(self, link: int) -> str:
        return str(self._p.getJointInfo(self.robot, link, physicsClientId=self._client)[12].decode())

    # -- camera ------------------------------------------------------------------------------

    def snapshot(self, intrinsics: Intrinsics, T_world_optical: np.ndarray) -> np.ndarray:
        """An RGB picture (H, W, 3) from any viewpoint (pictures of the arm; not the robot's camera)."""
        rgb, _depth, _seg = capture_rgbd(self._p, self._client, intrinsics, T_world_optical, 0.05, 5.0)
        return rgb

    def render(self) -> RenderedScene:
        """One registered RGB-D frame of the camera, with each object's truth (pose, pixels, tight box)."""
        if self.scene is None:
            raise RuntimeError("reset the world before rendering")
        cam = self.camera
        rgb, depth, seg = capture_rgbd(self._p, self._client, cam.intrinsics, cam.T_world_optical, cam.near, cam.far)
        truths = tuple(
            observed_truth(obj.name, self._objects[obj.name], _truth_shape(obj.shape), self.object_pose(obj.name),
                           obj.size, seg)
            for obj in self.scene.objects
        )
        self.last_frame = RenderedScene(
            rgb, depth, seg, cam.intrinsics, np.array(cam.T_world_optical, dtype=float), truths, self.table,
            extra={"sim_time": self.time},
        )
        return self.last_frame


def _truth_shape(shape: str) -> str:
    """The renderer's shape names for the training vocabulary's words."""
    return {"circle": "cylinder", "square": "box"}.get(shape, "triangular_prism")


def _prism_mesh(side: float, height: float) -> tuple[list[list[float]], list[int], list[list[float]]]:
    """An equilateral prism about its centroid (flat-shaded: each face has its own vertices)."""
    corners = triangle_corners(side)
    top = [[x, y, height / 2] for x, y in corners]
    bottom = [[x, y, -height / 2] for x, y in corners]
    vertices: list[list[float]] = []
    normals: list[list[float]] = []
    indices: list[int] = []

    def face(points: Sequence[list[float]], normal: list[float]) -> None:
        base = len(vertices)
        vertices.extend(points)
        normals.extend([normal] * len(points))
        indices.extend(base + i for k in range(1, len(points) - 1) for i in (0, k, k + 1))

    face(top, [0.0, 0.0, 1.0])
    face(bottom[::-1], [0.0, 0.0, -1.0])
    for i in range(3):
        j = (i + 1) % 3
        mid = [(corners[i][0] + corners[j][0]) / 2, (corners[i][1] + corners[j][1]) / 2]
        length = math.hypot(*mid)
        face([bottom[i], bottom[j], top[j], top[i]], [mid[0] / length, mid[1] / length, 0.0])
    return vertices, indices, normals
