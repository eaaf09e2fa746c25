"""The mailconduit demo: real loopback servers, an example config, and the CLI working on them."""
