"""The proxy's model endpoints, each a spec the one pipeline runs."""

from tokenway.proxy.endpoints.chat import CHAT
from tokenway.proxy.endpoints.completions import COMPLETIONS
from tokenway.proxy.endpoints.embeddings import EMBEDDINGS

ENDPOINTS = (CHAT, EMBEDDINGS, COMPLETIONS)

__all__ = ["CHAT", "COMPLETIONS", "EMBEDDINGS", "ENDPOINTS"]
