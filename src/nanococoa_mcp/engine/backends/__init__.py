"""Backends, one module (or package) per family, registered by name per stage."""
