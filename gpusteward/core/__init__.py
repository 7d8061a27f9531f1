"""Domain types, ports, clocks and errors: pure, imported by every layer.

Nothing here does I/O, reads the wall clock or the environment. Only the clock
implementations in `clock.py` touch time, and only when a caller asks them to.
"""
