"""Repository-wide pytest set-up.

* the real-server fixtures of ``mailconduit.testing`` for every test;
* the K1 canary sweep (RELIABILITY.md): secrets made with ``mailconduit.testing.canary()`` must not
  appear in any log record, captured output or temp file of the run, or the run fails.
"""

pytest_plugins = ["mailconduit.testing", "mailconduit._testing.leak_sweep", "pytester"]
