"""NumPy 2.5 removed ``np.row_stack`` (an alias of ``np.vstack`` since NumPy 2.0), and
numba-cuda 0.30.4 compiles an overload of it into every kernel's typing context: under
NumPy 2.5 each ``@cuda.jit`` compile fails with ``AttributeError: module 'numpy' has no
attribute 'row_stack'``. Importing this module (the package does, before any kernel)
puts the alias back where it is missing. The engine never calls ``row_stack`` itself."""

import numpy as np

if not hasattr(np, "row_stack"):
    np.row_stack = np.vstack  # noqa: NPY201  (putting the removed alias back is the point)
