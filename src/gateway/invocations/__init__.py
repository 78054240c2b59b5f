"""The tool invocation log: ``GET /v1/invocations[/{id}]`` (written by the tools domain)."""
