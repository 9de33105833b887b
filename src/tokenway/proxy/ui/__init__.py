"""The admin UI, the landing page (``/``) and the API docs (``/docs``), served by the proxy
from files inside the package, with no build step and nothing loaded from elsewhere."""

from tokenway.proxy.ui.app import AdminUI, UIRoute

__all__ = ["AdminUI", "UIRoute"]
