"""The job-config models, one module per job family, each imported only when a config of its
type is parsed (see :data:`interlock_core.config.jobs.JOB_CONFIG_MODELS`): building a pydantic
model costs milliseconds, and ``interlock emit`` on a command pipeline needs one of them."""
