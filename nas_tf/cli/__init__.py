"""The ``nas-tf`` command: its argv and help (``main``, ``arguments``, ``usage``), Ctrl-C and
SIGTERM (``interrupts``), and the commands that only read what searches wrote: ``show``,
``compare``, ``check-gpu``."""
