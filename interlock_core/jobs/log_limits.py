"""The default cap of a ``command`` job's log, for the modules that configure command jobs.

:mod:`interlock_core.jobs.command_wrapper` keeps its own copy of the number: it runs as a
standalone script (``python -I``) that imports only the standard library. Importing the
wrapper just for this constant cost every command that builds an engine (``interlock emit``)
the wrapper's subprocess and signal imports (issue 13); a test keeps the two equal.
"""

DEFAULT_MAX_LOG_BYTES = 16 * 1024 * 1024
