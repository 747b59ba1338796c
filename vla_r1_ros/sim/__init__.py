"""Offline tabletop simulation used as ground truth for the geometry core.

Not part of the pure core: this package imports pybullet (a test / evidence dependency pinned in
``requirements/test.txt``). The geometry core never imports it.
"""
