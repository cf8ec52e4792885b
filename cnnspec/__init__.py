"""cnnspec: Keras summary tables as the source of truth (check, build, train, export, serve CNNs from a spec)."""
__version__ = "0.1.0"
