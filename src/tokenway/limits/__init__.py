"""Rate limits: strategies (token bucket, sliding windows) over storage: this process's
memory (``window.MemoryLimitStore``), the counter process the workers of one machine share
(``local_store``), or Redis for many processes and machines (``redis_store``, its scripts in
``lua/``)."""
