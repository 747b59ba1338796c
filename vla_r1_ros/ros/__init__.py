"""The ROS 2 layer: conversions between core types and the package's messages, and the nodes."""
