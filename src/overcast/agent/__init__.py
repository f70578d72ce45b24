"""What runs on every host: the agent, its reconciler and its drivers.

Agents speak to the control plane only over the bus; they never import the
database or a service package (import-linter enforces it).
"""
