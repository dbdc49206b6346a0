"""Warning categories of probtree (tests turn them into errors)."""


class ProbtreeWarning(UserWarning):
    """Base class of every warning probtree emits."""
