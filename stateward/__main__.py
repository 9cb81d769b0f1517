"""``python -m stateward`` is the ``stateward`` command."""

from stateward.cli.main import main

main()
