"""HDP generative grammar semantic parser (Saparov, Saraswat & Mitchell, CoNLL 2017).

- `grammar.logic`: Datalog logical forms (lark parser, hash-consed AST, printer), canonical form
  and `equivalent`, scope and type checks.
- `grammar.transforms`, `grammar.features`: the semantic transformation functions of
  ``english.gram`` (apply / invert over compact LF sets) and the feature functions keying the HDPs.
- `grammar.grammar`: grammar files (``english.gram`` format) and lexicons.
- `grammar.hdp`: feature-keyed hierarchical Dirichlet processes (Chinese-restaurant-franchise
  state, jit predictive, path sets, upper bounds, collapsed Gibbs, concentration resampling).
- The semantic prior, chart sampler, MCMC training, parsing, generation and GeoQuery evaluation
  (`grammar.prior`, `grammar.train`, `grammar.parse` (candidate search), `grammar.parse_sets`
  (A* over (nonterminal, span, LF set) items), `grammar.rule_table` (jit-batched rule
  probabilities), `grammar.generate`, `grammar.evaluate`).

Modules are imported on demand (``from grammar import logic``), so ``import grammar`` stays light.
"""
