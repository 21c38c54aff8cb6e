"""The AWS runtime's Lambda handlers: ``aws_runtime.handlers.<name>.handler(event, context)``."""
