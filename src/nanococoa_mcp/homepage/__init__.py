"""The homepage generator: a LangGraph workflow that designs and writes a small multi-page site for a shop,
with ads made through our own tool registry. The entry point is `nanococoa_mcp.homepage.run.run_homepage`."""
