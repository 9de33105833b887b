"""The management API (keys, users, teams, spend), LiteLLM-shaped, under the master key."""

from tokenway.proxy.admin.api import AdminAPI
from tokenway.proxy.admin.responses import Call, Handler

__all__ = ["AdminAPI", "Call", "Handler"]
