"""Slow, obvious NumPy oracles for the functions that have no scipy twin.

Written for clarity, never for speed: explicit loops over windows, so that a
reader can check them against the textbook definitions.  One section per
public family.
"""
import numpy as np
