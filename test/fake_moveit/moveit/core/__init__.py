"""moveit.core: robot state, trajectories, the controller manager's execution status (fake)."""
