"""HDP generative grammar semantic parser (Saparov, Saraswat & Mitchell, CoNLL 2017).

Will hold: Datalog logical forms and their canonical forms (`logic`), semantic transformation
functions and features (`transforms`, `features`), feature-keyed hierarchical Dirichlet processes
(`hdp`), grammar files and lexicons (`grammar`), the semantic prior, MCMC training, parsing,
generation and GeoQuery evaluation.
"""
