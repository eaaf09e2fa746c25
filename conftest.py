"""Repository-wide pytest set-up: the real-server fixtures of mailconduit.testing for every test."""

pytest_plugins = ["mailconduit.testing"]
