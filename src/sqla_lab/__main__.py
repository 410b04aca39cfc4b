"""``python -m sqla_lab``."""

from sqla_lab.cli import main

main()
