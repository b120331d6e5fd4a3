"""The six AgeMem tools (SPEC.md §2): their schemas, and the executor that applies calls to the memories."""

from agemem.tools.executor import AgentState, execute, execute_call

__all__ = ["AgentState", "execute", "execute_call"]
