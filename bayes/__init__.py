"""Hierarchical Bayesian learning on the probtree core.

Will hold: Normal-Inverse-Wishart distributions (`niw`), NIW hierarchical Bayesian few-shot
meta-learning with MAML/ProtoNet baselines (`meta`, Kim & Hospedales, ICLR 2024) and novel class
discovery in tabular data (`ncd`, Troisemaine et al., 2023).
"""
