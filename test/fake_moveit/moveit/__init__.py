"""A stand-in for MoveIt 2's Python bindings (moveit_py), for the executor's tests only.

The real ``moveit`` package cannot be installed here. This one mirrors the module paths and the
signatures of moveit_py on Jazzy that the ``moveit_py`` backend uses, and behaves like a Panda:
LIN segments are planned with the project's pybullet Panda planner, forward kinematics comes from
pybullet, and execution moves a simulated arm in real time (a speed-up can be scripted). It is put
on PYTHONPATH only for the worker processes the tests start. See ``moveit/_fake.py`` for the
scripting and recording files.
"""
