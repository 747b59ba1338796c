"""pip installation of the vla_r1_ros core, CLI and training subpackage, for users without ROS.

The ROS 2 build uses CMakeLists.txt (ament_cmake: interfaces + this same Python package); this
file lets `pip install -e .` provide the same core and the `vla-r1` / `vla-r1-train` commands.
"""

from setuptools import find_packages, setup

setup(
    name="vla_r1_ros",
    version="0.1.0",
    description="VLA-R1 reasoning vision-language-action model on ROS 2: protocol, rewards, metrics, lifting, nodes",
    license="Apache-2.0",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["vla_r1_ros", "vla_r1_ros.*"])
    + find_packages("training", include=["vla_r1_training", "vla_r1_training.*"]),
    package_dir={"vla_r1_training": "training/vla_r1_training"},
    # The embedded tiny checkpoint (model name "embedded") ships inside the package.
    package_data={"vla_r1_ros": ["models/*/*"]},
    install_requires=["numpy>=1.22", "numba>=0.60", "PyYAML>=5.4", "opencv-python-headless>=4.5", "pillow>=9"],
    extras_require={
        "model": ["torch>=2.4", "torchvision>=0.19", "transformers>=4.57", "accelerate>=1.0"],
        "training": [
            "torch>=2.4",
            "torchvision>=0.19",
            "transformers>=4.57",
            "trl>=0.24",
            "datasets>=3.0",
            "accelerate>=1.0",
            "peft>=0.17",
        ],
        # Several GPUs with ZeRO-3 (accelerate launch + training/configs/accelerate_zero3.yaml); the
        # test environment has it for the two-process ZeRO-3 test on the CPU.
        "deepspeed": ["deepspeed>=0.19"],
        # The simulated Panda, its pick episodes and the simulated demo (pybullet_data ships the URDF).
        "sim": ["pybullet>=3.2.7"],
        # vla-r1 compare-runs: rosbag2 bags without ROS, pinocchio FK, statistics, plots (the default
        # Panda URDF comes from pybullet_data: add the sim extra, or pass --urdf).
        "analysis": ["rosbags>=0.11.9", "pin>=4.1", "scipy>=1.11", "matplotlib>=3.8"],
        "test": ["pytest>=8", "hypothesis>=6.100"],
    },
    entry_points={
        "console_scripts": [
            "vla-r1=vla_r1_ros.cli:main",
            "vla-r1-train=vla_r1_training.cli:main",
        ]
    },
)
