"""What an operator sees of the proxy: a line per request, Prometheus metrics,
OpenTelemetry traces.

Both are built from the same ``RequestRecord`` (``record``), made once per model request
by the ``Observer`` (``wrap``, a hook the pipeline calls) from its spend row and its
response's headers.
"""

from tokenway.proxy.observability.record import RequestRecord
from tokenway.proxy.observability.request_log import JsonFormatter, PlainFormatter, RequestLog
from tokenway.proxy.observability.wrap import Observer, build_observer

__all__ = [
    "JsonFormatter",
    "Observer",
    "PlainFormatter",
    "RequestLog",
    "RequestRecord",
    "build_observer",
]
