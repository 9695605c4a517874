"""The doors: MCP (stdio now; HTTP and SSE with the job system) over the one tool registry."""
