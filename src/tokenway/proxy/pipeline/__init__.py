"""The request pipeline every model endpoint runs (see ``pipeline.pipeline``)."""

from tokenway.proxy.pipeline.context import CallContext
from tokenway.proxy.pipeline.endpoint import Endpoint
from tokenway.proxy.pipeline.pipeline import Handler, Pipeline, Wrap

__all__ = ["CallContext", "Endpoint", "Handler", "Pipeline", "Wrap"]
