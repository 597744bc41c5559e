"""ptmlab: pre-trained language models, trained small and looked inside.

A course library following Qiu et al. (2020), "Pre-trained Models for Natural Language Processing: A Survey".
`import ptmlab` is cheap: torch and the heavy optional packages load only when a submodule needs them."""

from ptmlab.errors import CheckpointError, DataError, InputError, OfflineError, PtmlabError

__version__ = "0.1.0"
__all__ = ["PtmlabError", "InputError", "DataError", "CheckpointError", "OfflineError", "__version__"]
