"""``python -m mailconduit``: the same as the ``mailconduit`` command."""

from mailconduit._cli import main

main()
