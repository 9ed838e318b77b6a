"""The edges of the service: HTTP (FastAPI) and the `quality` command line, thin over `quality`."""
