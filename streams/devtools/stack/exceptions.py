"""Errors of the local stack, each telling the user what to do next."""


class StackError(RuntimeError):
    """A local service could not be prepared or started; the message says how to fix it."""
