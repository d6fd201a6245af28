"""An op defined wrongly is refused where it is defined (define_op) or where it is proved
(check_op), with an error naming the op and what to add or change, never a crash deep in
rop or a silent pass."""

import numpy as np
import pytest
import sympy

import graph as G
import rop
from graph.op import REGISTRY
from graph.ops.structure import pad_batched
from graph.shapes import broadcast_shape


def _batch_tanh(x, *, batched):
    return G.tanh(x)


def tanh_spec(**changes):
    """A correct unary spec (tanh) with some keywords changed; None removes one."""
    spec = dict(arity=1, numpy=np.tanh, shape=lambda s: s,
                sympy=G.sympy_elementwise(sympy.tanh, 1),
                rop=lambda dx, x, *, out: (1 - out * out) * dx,
                vjp=lambda g, x, *, out: g * (1 - out * out),
                inverse=G.NoInverse("not needed here"), batch=_batch_tanh, domain=G.REALS,
                examples=[G.Example(((2,),))], doc="out = tanh(x), a test copy")
    spec.update(changes)
    return {k: v for k, v in spec.items() if v is not None}


def _batch_logaddexp(x, y, *, batched):
    ndim = max(x.ndim - batched[0], y.ndim - batched[1])  # padded, the batch axis leads
    x, y = (pad_batched(v, ndim) if b else v for v, b in zip((x, y), batched))
    return G.log(G.exp(x) + G.exp(y))


def logaddexp_spec(**changes):
    """A correct broadcasting binary spec written without the family helper (broadcast_op)."""
    spec = dict(
        arity=2, numpy=np.logaddexp, shape=lambda a, b: broadcast_shape("lae", a, b),
        sympy=G.sympy_elementwise(lambda x, y: sympy.log(sympy.exp(x) + sympy.exp(y)), 2),
        rop=(lambda dx, x, y, *, out: G.exp(x - out) * dx,
             lambda dy, x, y, *, out: G.exp(y - out) * dy),
        vjp=(lambda g, x, y, *, out: g * G.exp(x - out),
             lambda g, x, y, *, out: g * G.exp(y - out)),
        # out = log(e^x + e^y)  =>  x = out + log(1 - e^(y - out))
        inverse=(lambda out, x, y: out + G.log(-G.expm1(y - out)),
                 lambda out, x, y: out + G.log(-G.expm1(x - out))),
        batch=_batch_logaddexp, domain=G.REALS,
        examples=[G.Example(((2, 3), (3,)))], doc="out = log(exp(x) + exp(y)), a test copy")
    spec.update(changes)
    return {k: v for k, v in spec.items() if v is not None}


@pytest.fixture
def define():
    """define_op, removing what the test registered afterwards (the registry is global)."""
    names = []

    def define_op(name, **spec):
        names.append(name)
        return G.define_op(name, replace=True, **spec)

    yield define_op
    for name in names:
        REGISTRY.pop(name, None)


def refused(name, match, **spec):
    with pytest.raises(TypeError, match=match) as error:
        G.define_op(name, **spec)
    assert name not in REGISTRY  # a refused op is not registered
    assert f"define_op({name!r})" in str(error.value)  # the op is named
    return str(error.value)


# -- define_op ------------------------------------------------------------------------------
def test_a_missing_batch_rule_is_named_with_how_to_write_it():
    text = refused("no_batch", "missing batch", **tanh_spec(batch=None))
    assert "batched=flags" in text and "graph.elementwise_op" in text


def test_every_missing_rule_is_listed():
    text = refused("no_rules", "missing sympy, rop, vjp, inverse",
                   **tanh_spec(sympy=None, rop=None, vjp=None, inverse=None))
    assert "graph.NoInverse" in text and "sympy_elementwise" in text


def test_a_misspelt_keyword_is_refused_with_the_likely_name():
    refused("misspelt", "unknown keyword 'broadcast' \\(did you mean broadcasts\\?\\)",
            **logaddexp_spec(broadcast=True))


def test_a_rules_tuple_of_the_wrong_length_says_one_rule_per_operand():
    refused("short_vjp", r"vjp gives 1 rule\(s\) for 2 operand\(s\); give a tuple of 2",
            **logaddexp_spec(vjp=(lambda g, x, y, *, out: g,)))
    refused("long_rop", r"rop gives 2 rule\(s\) for 1 operand\(s\)",
            **tanh_spec(rop=(None, None)))


def test_a_rule_that_is_not_a_function_is_refused():
    refused("number_rule", r"rop\[1\] is 1.0, not a function",
            **logaddexp_spec(rop=(lambda dx, x, y, *, out: dx, 1.0)))


def test_a_rule_with_the_wrong_signature_is_refused_with_the_reason():
    text = refused("no_out", r"rop\[0\] cannot be called as rop\(dx, x0, out=...\)",
                   **tanh_spec(rop=lambda dx, x: dx))
    assert "unexpected keyword argument 'out'" in text
    refused("no_batched", r"batch cannot be called", **tanh_spec(batch=lambda x: G.tanh(x)))
    refused("bad_inverse", r"inverse\[0\] cannot be called",
            **tanh_spec(inverse=lambda out: out))
    refused("wants_axis", "missing a required argument: 'axis'",
            **tanh_spec(vjp=lambda g, x, *, out, axis: g))


@pytest.mark.parametrize("examples, match", [
    ([], "examples is empty, so rop.check_op would prove nothing"),
    ([G.Example((2,))], r"one shape \(a tuple of ints\) per operand"),
    ([((2,),)], "not a graph.Example"),
    ([G.Example(((2,), (2,)))], r"gives 2 operand shape\(s\) for an op of arity 1"),
])
def test_bad_examples_are_refused(examples, match):
    refused("bad_examples", match, **tanh_spec(examples=examples))


def test_an_example_its_own_shape_rule_rejects_is_refused_with_the_rules_error():
    def matrices_only(s):
        if len(s) != 2:
            raise G.ShapeError(f"matrices_only: needs a matrix, got shape {s}")
        return s

    refused("rejects_example", r"shape rule \(or normalize\) rejects its example.*needs a "
            r"matrix, got shape \(2,\)", **tanh_spec(shape=matrices_only))
    refused("list_shape", r"the shape rule returns \[2\]", **tanh_spec(shape=lambda s: list(s)))


def test_a_domain_per_operand_must_match_the_operands():
    refused("two_domains", r"domain gives 2 entries for 1 operand\(s\)",
            **tanh_spec(domain=(G.REALS, G.REALS)))
    refused("bare_numbers", "is not an interval", **tanh_spec(domain=(-1.0,)))


def test_an_elementwise_binary_op_with_broadcast_examples_must_declare_broadcasts():
    refused("no_broadcasts", "add broadcasts=True", **logaddexp_spec(elementwise=True))


def test_an_empty_doc_is_refused():
    refused("no_doc", "doc is empty", **tanh_spec(doc=" "))


def test_a_correct_definition_still_registers(define):
    op = define("defop_good_tanh", **tanh_spec())
    assert REGISTRY["defop_good_tanh"] is op
    assert rop.check_op(op).symbolic >= 3


def test_replace_re_runs_a_definition_and_old_graphs_keep_the_old_op(define):
    first = define("defop_rerun", **tanh_spec())
    x = G.var("x", (2,))
    old = first(x)
    with pytest.raises(ValueError, match="replace=True"):
        G.define_op("defop_rerun", **tanh_spec())
    second = define("defop_rerun", **tanh_spec(numpy=lambda x: np.tanh(x)))
    assert REGISTRY["defop_rerun"] is second and old.op is first
    assert second(x).op is second


# -- check_op -------------------------------------------------------------------------------
def test_a_broadcasting_op_without_broadcasts_is_told_to_declare_it(define):
    # without broadcasts=True, rop asks the inverse for operand 1 (shape (3,)) from an output
    # of shape (2, 3): the rule answers with the output's shape (this used to crash in
    # check_op with a ShapeError from broadcast_to)
    op = define("defop_lae", **logaddexp_spec())
    with pytest.raises(G.RuleCheckError, match=r"inverse\[1\] of 'defop_lae' on operands "
                       r"\(\(2, 3\), \(3,\)\) returns shape \(2, 3\), not the operand's shape "
                       r"\(3,\).*declare broadcasts=True"):
        rop.check_op(op)
    fixed = define("defop_lae", **logaddexp_spec(broadcasts=True))
    assert "inverse[1] on operands ((2, 3), (3,)): none" in str(rop.check_op(fixed))


def test_a_sympy_form_on_scalars_is_told_to_lift_it(define):
    op = define("defop_unlifted", **tanh_spec(sympy=sympy.tanh))
    with pytest.raises(G.RuleCheckError, match="the sympy form of 'defop_unlifted'.*raised.*"
                       r"graph.sympy_elementwise\(fn, nin\)"):
        rop.check_op(op)


def test_forms_of_the_wrong_shape_are_named(define):
    op = define("defop_sympy_shape", **tanh_spec(
        sympy=lambda x: G.sympy_elementwise(sympy.tanh, 1)(x)[0]))
    with pytest.raises(G.RuleCheckError, match=r"sympy form .* returns shape \(\), but the shape "
                       r"rule gives \(2,\)"):
        rop.check_op(op)
    op = define("defop_numpy_shape", **tanh_spec(numpy=lambda x: np.tanh(x).sum()))
    with pytest.raises(G.RuleCheckError, match=r"numpy forward of 'defop_numpy_shape' .* returns "
                       r"shape \(\), but the shape rule gives \(2,\)"):
        rop.check_op(op)


def test_a_rule_written_with_numpy_is_told_to_use_graph_ops(define):
    op = define("defop_numpy_rule", **tanh_spec(rop=lambda dx, x, *, out: dx / np.cosh(x) ** 2))
    with pytest.raises(G.RuleCheckError, match=r"rop\[0\] of 'defop_numpy_rule' .* raised "
                       r"TypeError.*never numpy functions"):
        rop.check_op(op)


def test_rules_returning_the_wrong_shape_are_named(define):
    op = define("defop_vjp_shape", **tanh_spec(vjp=lambda g, x, *, out: G.sum(g)))
    with pytest.raises(G.RuleCheckError, match=r"vjp\[0\] of 'defop_vjp_shape' .* returns shape "
                       r"\(\) for an operand of shape \(2,\)"):
        rop.check_op(op)
    op = define("defop_rop_shape", **tanh_spec(rop=lambda dx, x, *, out: G.concatenate([dx, dx])))
    with pytest.raises(G.RuleCheckError, match=r"rop\[0\] .* returns shape \(4,\), which does not "
                       r"broadcast to the output's shape \(2,\)"):
        rop.check_op(op)


def test_a_batching_rule_that_raises_is_named(define):
    op = define("defop_batch", **tanh_spec(batch=lambda x, *, batched: G.reshape(x, shape=(7,))))
    with pytest.raises(G.RuleCheckError, match=r"the batching rule of 'defop_batch' .* raised "
                       r"ShapeError.*extra leading axis"):
        rop.check_op(op)


def test_check_op_refuses_an_op_without_examples():
    op = G.Op("no_examples", **tanh_spec(examples=[]))  # built directly, not by define_op
    with pytest.raises(G.RuleCheckError, match="no examples: check_op would prove nothing"):
        rop.check_op(op)
