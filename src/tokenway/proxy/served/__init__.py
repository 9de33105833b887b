"""The served models beyond the config file: LiteLLM's model endpoints (``/model/info``,
``/model_group/info``, ``/model/new|update|delete``) and the models stored in the
database, served beside the config's without a restart."""

from tokenway.proxy.served.info import Served
from tokenway.proxy.served.live import LiveModels
from tokenway.proxy.served.routes import ModelRoutes
from tokenway.proxy.served.secrets import SecretBox

__all__ = ["LiveModels", "ModelRoutes", "SecretBox", "Served"]
