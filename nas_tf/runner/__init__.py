"""The search runner: the journal every strategy writes through (``journal``), the loop that
drives proposers (``loop``), and the entry point that runs either family (``run``)."""
