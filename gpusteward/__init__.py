"""gpusteward: keeps GPU inference clusters ahead of their load.

The kernel (`gpusteward.core`) holds the domain types and ports; the runtime around it
(`sim`, `journal`, `daemon`, `wiring`, `cli`) observes a cluster, asks a planner for
proposals, has the guard judge them, acts and records. See DESIGN.md for the layers.
"""

__version__ = "0.1.0"
