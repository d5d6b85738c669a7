"""The MCP front door: the Streamable HTTP server agents talk to (`front`), their sessions
and whose they are (`sessions`), the back-channel to them during a call (`backchannel`),
the upstream MCP servers' prompts and resources (`upstreams`), and the small client the
CLI uses (`client`)."""
