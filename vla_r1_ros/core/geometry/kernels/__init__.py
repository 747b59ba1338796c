"""Compiled inner loops of the geometry core (numba), one module per stage of a lifting request.

Why: a lifting request touches a few thousand numbers, so in NumPy nearly all of its cost was
the fixed overhead of some 750 small calls (2-5 us each), not arithmetic. Each entry point here
runs one stage as a single compiled call:

* :mod:`.decode`: depth pixels to metres;
* :mod:`.medians`: medians, percentiles and the sorting networks behind them;
* :mod:`.plane_fit` and :mod:`.box_fit`: the plane fit of a box (RANSAC, refits, trims);
* :mod:`.height_grid`: the base-frame point cloud, the height map and its lookups;
* :mod:`.polyline` and :mod:`.transit`: the path through the height map;
* :mod:`.limits`: the safety filter's acceptance test.

Small helpers are compiled too, and a call from one compiled function to another costs nothing,
also across these modules.

Results are those of the NumPy code these replaced: float32 depth arithmetic stays float32,
medians and percentiles pick the same order statistics, np.interp's bracketing rule is kept,
and Python's exceptions for a non-finite length are raised. Only the summation order of a few
sums differs (BLAS vs a loop), a few units in the last place.
``test/test_geometry_fastpaths.py`` checks every routine against its plain NumPy formulation.

Compilation: ``cache=True`` keeps the machine code in ``__pycache__`` beside each module (or in
``NUMBA_CACHE_DIR``), so a machine compiles once (under a minute on two busy cores) and later
processes load it in about a second. :func:`vla_r1_ros.core.geometry.warm_up` loads or compiles
everything up front; the ROS node calls it at start-up. numba checks a cache entry against its
own module's source file only: after editing a kernel, delete the ``*.nbi``/``*.nbc`` files in
``__pycache__`` so that the kernels of other modules that call it are compiled again.
``fastmath`` stays off: it would let LLVM reassociate and fuse the arithmetic above.

Nothing here is public API: the package's modules call these with arrays of the layout each
kernel was compiled for (a new layout or writeability would compile another version).
"""
