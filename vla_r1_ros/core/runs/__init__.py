"""Measures of recorded robot runs for teleop-comparison experiments (pure: no ROS, no files).

- :mod:`.motion`: timing clean-up, tool path length, speed profile, joint rate peaks, clearance;
- :mod:`.smoothness`: LDLJ and SPARC of a speed profile (Balasubramanian et al. 2015);
- :mod:`.events`: run window, phase durations and interventions from execution events;
- :mod:`.similarity`: Fréchet and DTW of two tool paths after arc-length resampling;
- :mod:`.run`: all of the above for one run (:func:`.run.run_metrics`);
- :mod:`.stats`: per-condition means with 95 % intervals and condition comparisons (scipy);
- :mod:`.tlx`: raw NASA-TLX;
- :mod:`.operator`: a scripted, human-like reaching operator for tests and demos.
"""
