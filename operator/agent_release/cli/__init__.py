"""The `agent-release` command line (also `kubectl agentrelease`)."""
