"""vla_r1_ros: VLA-R1 on ROS 2.

The pure core (``vla_r1_ros.core``) never imports rclpy; the ROS layer lives in
``vla_r1_ros.ros``. After ``colcon build`` the generated interfaces sit beside them as
``vla_r1_ros.msg`` and ``vla_r1_ros.action``. Keep this file light: the generated code shares
the package.
"""

from pkgutil import extend_path

# A source checkout on sys.path (the working directory, an editable install) would otherwise hide
# the colcon-installed copy that also holds the generated msg/ and action/ subpackages.
__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
