"""The entry points of `python run.py task=…`: the only library modules that read the root `Config`."""
