"""The ad engine: typed stages (cut-out, scene, compose, layout, copy, render, final) and the pipeline.

Knows nothing of MCP or HTTP. Importing it never imports torch.
"""
