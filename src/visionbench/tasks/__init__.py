from .base import TASKS, StepContext, Task, register_task

__all__ = ["TASKS", "StepContext", "Task", "register_task"]
