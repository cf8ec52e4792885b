"""``python -m cnnspec``: the command-line interface."""
from cnnspec.cli import main

main()
