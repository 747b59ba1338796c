"""The pure core: protocol, rewards and metrics. NumPy, strings and dataclasses only; no ROS."""
