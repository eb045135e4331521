"""The simulated Azure behind the `az` stand-in of a rehearsal (see `__main__` and `arm`)."""
