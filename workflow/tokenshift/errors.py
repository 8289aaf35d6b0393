"""The one exception family users see as a one-line message instead of a traceback."""


class UserError(ValueError):
    """Bad input (config, model, dataset, arguments) detected before heavy work."""
