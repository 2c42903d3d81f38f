"""Every chart of the kit: ``f(data, *, ..., ax=None, **kwargs) -> matplotlib Axes``.

Charts draw only through ``ax`` (a new figure when None) and never call ``plt.show``. They are
split by topic into submodules and re-exported here, so ``from salesops_kit import plots`` gives all.
"""

from ._base import get_ax
from .audit import *  # noqa: F401,F403
from .costs import *  # noqa: F401,F403
from .forecast import *  # noqa: F401,F403
from .funnel import *  # noqa: F401,F403
from .monitor import *  # noqa: F401,F403
from .reps import *  # noqa: F401,F403

__all__ = ["get_ax"]
