"""probtree: probabilistic reasoning and structured prediction over trees, in JAX.

The core holds rooted trees (`Tree`), batches of trees (`Forest`) and sparse graphs (`Graph`) as
flat-array pytrees, with jit-compiled passes over them (`upward`, `upward_argmax`,
`upward_select`, `downward`). ProbTree QA lives in `probtree.qa`, language-model backends in
`probtree.lm`; the sibling packages `grammar` and `bayes` build on the same core.
"""

from probtree.forest import Forest, bucket_size
from probtree.graph import Graph
from probtree.passes import downward, upward, upward_argmax, upward_select
from probtree.tree import SideTable, Tree, TreeLimits

__all__ = [
    "Forest",
    "Graph",
    "SideTable",
    "Tree",
    "TreeLimits",
    "bucket_size",
    "downward",
    "upward",
    "upward_argmax",
    "upward_select",
]

__version__ = "0.1.0"
