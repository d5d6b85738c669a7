"""The MCP front door: the Streamable HTTP server agents talk to, their sessions, the
back-channel to them during a call, and the small client the CLI uses."""
