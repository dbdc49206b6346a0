# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Logical forms and semantic transformation functions
#
# The HDP grammar semantic parser (Saparov, Saraswat & Mitchell, CoNLL 2017) generates a sentence
# together with a Datalog logical form (LF). Every right-hand symbol of a grammar rule carries a
# *transformation function* that maps the parent's LF to the child's; a parser inverts them
# bottom-up, on *sets* of LFs. This notebook walks through the pieces in `grammar.logic*`,
# `grammar.transforms` and `grammar.features`, on the bundled GeoQuery data.

# %%
import os

from grammar.features import feature, features
from grammar.grammar import DATA_DIR, read_examples, read_grammar, read_lexicon
from grammar.logic import parse, to_text
from grammar.logic_canonical import canonical, check_scope, equivalent
from grammar.logic_types import infer_types, read_ontology, type_check
from grammar.transforms import apply, compose, invert, normalize
from grammar.transforms_sets import contains, intersect

SMALL = os.environ.get("PROBTREE_EXAMPLE_SMALL") == "1"

# %% [markdown]
# ## Parsing, printing, hash-consing
# LFs parse to an immutable AST in which equal LFs are the same object.

# %%
lf = parse("answer(A,(state(A),next_to(A,B),const(B,stateid('new mexico'))))")
print(to_text(lf))
print(lf is parse(" answer( A , ( state(A), next_to(A,B), const(B,stateid('new mexico')) ) ) "))
try:
    parse("answer(A,(state(A)")
except ValueError as err:
    print("error:", err)

# %% [markdown]
# ## Canonical form and equivalence
# Conjunct order, variable names and function scope do not matter.

# %%
a = parse("answer(X,(next_to(X,Y),state(X),const(Y,stateid('new mexico'))))")
print(to_text(canonical(a)), equivalent(a, lf))
print(equivalent(parse("(state(A),largest(B,(city(B),loc(B,A))))"),
                 parse("largest(B,(state(A),city(B),loc(B,A)))")))
print(check_scope(parse("answer(A,(count(B,state(B),A),river(B)))")))

# %% [markdown]
# ## Type checking against the GeoQuery ontology

# %%
onto = read_ontology(DATA_DIR / "geoquery" / "geoqueries880_types")
print(infer_types(parse("answer(A,(high_point(B,A),loc(A,B),state(B)))"), onto))
print(type_check(parse("answer(A,(river(A),state(A)))"), onto))
examples = read_examples(DATA_DIR / "geoquery" / "geoqueries880")
if SMALL:
    examples = examples[:200]
print(sum(type_check(e.lf, onto) for e in examples), "of", len(examples), "type-check")

# %% [markdown]
# ## The grammar and the lexicon

# %%
gram = read_grammar()
lexicon = read_lexicon(DATA_DIR / "geoquery" / "geoqueries880_lexicon", grammar=gram)
print(gram.count("nonterminal"), "nonterminals,", len(gram.rules), "rules,",
      len(lexicon), "lexicon items")
print(gram.rules[11])

# %% [markdown]
# ## Transformation functions: apply top-down, invert bottom-up, intersect

# %%
parent = normalize(parse("answer(A,(city(A),loc(A,B),const(B,stateid(virginia))))"))
np = apply("select_left_delete_answer", parent)
vpq = apply("delete_left_answer", parent)
print("NP :", to_text(np), "  VPQ:", to_text(vpq))
s1 = invert("select_left_delete_answer", np)
s2 = invert("delete_left_answer", vpq)
print([to_text(p) for p in s1], [to_text(p) for p in s2])
both = intersect(s1, s2)
print([to_text(p) for p in both], contains(both, parent))

# %% [markdown]
# Compositions apply left to right and invert right to left; functions that do not apply
# return `None`.

# %%
f = compose("delete_left_answer,delete_left_head")
print(to_text(f.apply(parent)), contains(f.invert(f.apply(parent)), parent))
print(apply("select_left_delete_head", parse("(city(A),loc(A,B))")))

# %% [markdown]
# ## Features: the keys of the rule HDPs
# A feature of an LF set is a value, or a wildcard when the members disagree.

# %%
print(features(gram.nonterminals["NP"].features, np))
print(feature("second_predicate", s1[0].args[1]), feature("direction", parse("loc(B,A)")))

# %% [markdown]
# ## Coverage: can the grammar derive a sentence with its LF?
# Rules are expanded top-down with `apply`; each nonterminal's features must be defined on its LF.

# %%
from grammar.grammar_coverage import derivable, find_derivation  # noqa: E402

sentence = "what rivers are in texas ?".split()
gold = parse("answer(A,(river(A),loc(A,B),const(B,stateid(texas))))")
print(derivable(gram, sentence, gold))
tree = find_derivation(gram, sentence, gold)
for node in tree.nodes():
    words = " ".join(sentence[node.start:node.end])
    print(f"{node.nonterminal:<12} {words:<28} {to_text(node.lf)}")
