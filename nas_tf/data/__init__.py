"""Data loaders for the search tasks."""


class DataError(ValueError):
  """Bad or missing data: the message names the path and what is wrong with it."""
