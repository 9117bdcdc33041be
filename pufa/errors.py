"""Domain errors. Messages are written for the person who reads them: what went wrong and what to do.

Front-ends convert these to exit codes, HTTP errors or UI sentences at the edge.
"""


class PufaError(Exception):
    """Base of every error Pufa raises on purpose."""


class ConfigError(PufaError):
    """A setting or the corpus configuration file is wrong."""


class CorpusError(PufaError):
    """A corpus source cannot be read at all (a single bad file is a warning, not this)."""


class ParseError(PufaError):
    """A document could not be parsed into a statute or a guide."""


class IndexMissingError(PufaError):
    """No index where one was expected."""


class IndexMismatchError(PufaError):
    """The index on disk was built with other settings than the ones in force."""


class NotFoundError(PufaError):
    """A law or an article that the catalog does not hold."""

    def __init__(self, message: str, suggestions: list[str] | None = None):
        super().__init__(message)
        self.suggestions = suggestions or []


class EmbedderError(PufaError):
    """The embedding model cannot be loaded or used."""


class InputError(PufaError):
    """A question or request that cannot be processed as given (empty, too long, malformed)."""


class LLMError(PufaError):
    """The language-model backend failed: down, too slow, an HTTP error, garbage, a cut stream or an empty reply.

    `kind` names what happened ("down", "timeout", "http", "garbage", "cut", "empty", "error") so callers
    can count failures by cause; the message never contains the API key.
    """

    def __init__(self, message: str, kind: str = "error"):
        super().__init__(message)
        self.kind = kind


class PromptError(ConfigError):
    """A prompt file is broken, or a prompt was rendered with missing or unexpected variables."""
