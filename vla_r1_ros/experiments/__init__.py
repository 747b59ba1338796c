"""Teleop-comparison experiments: recorded runs in rosbag2 bags, measured and compared.

- :mod:`.interfaces`: the package's message types for rosbags, the topics a run records;
- :mod:`.bag_writer`: write a run's topics into a rosbag2 folder (the recording side);
- :mod:`.bag_reader`: find bags, read a run's streams, name the file when a bag is broken;
- :mod:`.metadata`: the run metadata sidecar (``<bag>.run.json``) and label / NASA-TLX tables;
- :mod:`.kinematics`: forward kinematics of a URDF (pinocchio) for the tool path;
- :mod:`.analysis`: bags to per-run measures, statistics and path similarity;
- :mod:`.report`: summary.json, runs.csv, report.md and plots;
- :mod:`.compare_runs`: the ``vla-r1 compare-runs`` command.

The measures themselves are pure and live in :mod:`vla_r1_ros.core.runs`.
"""
