"""vla_r1_training: SFT and GRPO for VLA-R1 with TRL, built on the vla_r1_ros core.

The core never imports this package; this package imports the core (rewards, protocol).
"""
