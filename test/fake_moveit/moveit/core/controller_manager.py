"""moveit.core.controller_manager (fake): ExecutionStatus with ``status`` (a name) and truthiness."""

from __future__ import annotations


class ExecutionStatus:
    def __init__(self, status: str) -> None:
        self._status = status

    @property
    def status(self) -> str:
        return self._status

    def __bool__(self) -> bool:
        return self._status == "SUCCEEDED"
