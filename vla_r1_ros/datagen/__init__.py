"""Training-data generators that need no simulator: seeded top-down drawings (:mod:`.topdown_scenes`).

The simulator's own frames for training are :mod:`vla_r1_ros.sim.sim_dataset` (it renders with pybullet).
"""
