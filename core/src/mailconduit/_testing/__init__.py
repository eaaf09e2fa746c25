"""The implementation of ``mailconduit.testing``: contract suites, real-server fixtures, fault kit."""
