"""Tests of the REST shim, mirroring src/nanococoa_mcp/server/rest/ (a package: its test_ads.py and
tests/tools/test_ads.py would otherwise share a module name)."""
