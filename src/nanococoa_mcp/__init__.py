"""nanococoa: an agent-native ad studio for Korean small merchants, served as MCP tools."""

__version__ = "0.1.0"
