"""agent-release-operator: evaluation gates and guarded canaries for AI agent releases."""

__version__ = "0.1.0"
