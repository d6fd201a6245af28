"""rop.optim refuses bad input where the mistake is made: each optimizer's constructor checks
its hyper-parameters, minimize its keywords and its start, the Objective its parameters,
data, batches and what build() returns; every message names the parameter, the value and
what is accepted."""

import numpy as np
import pytest
from optim_problems import least_squares

import graph as G
from rop.optim import Adam, GradientDescent, HessianFree, Newton, Objective, minimize

NAN, INF = float("nan"), float("inf")

# (optimizer, keyword, bad value, words the message must hold)
BAD_VALUES = [
    (HessianFree, "damping", NAN, "HessianFree: damping must be a positive finite number, "
                                  "got nan"),
    (HessianFree, "damping", -1, "damping must be a positive finite number, got -1"),
    (HessianFree, "damping", 0.0, "damping must be a positive"),  # λ = 0 stays 0 under LM
    (HessianFree, "damping", INF, "got inf"),
    (HessianFree, "damping_decrease", 1.5, r"damping_decrease must be a number in \(0, 1\]"),
    (HessianFree, "damping_increase", 0.5, r"damping_increase must be a number in \[1, inf\)"),
    (HessianFree, "rho_low", NAN, "rho_low"),
    (HessianFree, "cg_max_iter", 0, "cg_max_iter must be a positive integer, got 0"),
    (HessianFree, "cg_eps", -1e-3, "cg_eps must be a non-negative finite number"),
    (HessianFree, "cg_tol", NAN, "cg_tol"),
    (HessianFree, "warm_start_decay", 1.2, r"warm_start_decay must be a number in \[0, 1\]"),
    (HessianFree, "line_search_c", 0.0, r"line_search_c must be a number in \(0, 1\)"),
    (HessianFree, "line_search_shrink", 1.0, r"line_search_shrink must be a number in \(0, 1\)"),
    (HessianFree, "line_search_max", -1, "line_search_max must be a positive integer"),
    (HessianFree, "preconditioner_exponent", -0.5, "preconditioner_exponent"),
    (HessianFree, "batch_size", 0, "batch_size must be a positive integer or None, got 0"),
    (HessianFree, "curvature", "gn", "curvature must be one of 'ggn', 'hessian'; got 'gn'"),
    (Newton, "damping", -1, "Newton: damping must be a non-negative finite number, got -1"),
    (Newton, "damping", NAN, "damping"),
    (Newton, "cg_tol", -1.0, "cg_tol"),
    (Newton, "cg_max_iter", 0, "cg_max_iter must be a positive integer or None"),
    (Newton, "line_search_c", 1.0, "line_search_c"),
    (Newton, "line_search_shrink", 0.0, "line_search_shrink"),
    (Newton, "line_search_max", 0, "line_search_max"),
    (Newton, "method", "newton", "method must be one of 'auto', 'linear', 'functional', 'cg'"),
    (GradientDescent, "learning_rate", -0.1, "GradientDescent: learning_rate must be a "
                                             "positive finite number, got -0.1"),
    (GradientDescent, "learning_rate", NAN, "learning_rate"),
    (GradientDescent, "momentum", 1.0, r"momentum must be a number in \[0, 1\)"),
    (GradientDescent, "batch_size", -3, "batch_size"),
    (Adam, "learning_rate", -1e-3, "Adam: learning_rate must be a positive finite number"),
    (Adam, "learning_rate", 0, "learning_rate"),
    (Adam, "beta1", 1.0, r"beta1 must be a number in \[0, 1\)"),
    (Adam, "beta2", -0.1, "beta2"),
    (Adam, "eps", 0.0, "eps must be a positive finite number"),  # m̂/√v̂ would be 0/0
    (Adam, "batch_size", 0, "batch_size"),
]


BAD_TYPES = [
    (HessianFree, "cg_max_iter", 2.5, "cg_max_iter must be a positive integer, got 2.5"),
    (HessianFree, "batch_size", 2.5, "batch_size must be a positive integer or None"),
    (HessianFree, "backtracking", "no", "backtracking must be True or False, got 'no'"),
    (HessianFree, "preconditioner", None, "preconditioner must be True or False"),
    (Newton, "line_search", "yes", "line_search must be True or False"),
    (GradientDescent, "learning_rate", "0.1", "learning_rate must be a positive finite "
                                              "number, got '0.1'"),
    (Adam, "beta1", True, "beta1 must be a number"),
]


@pytest.mark.parametrize("optimizer, keyword, value, message", BAD_VALUES)
def test_optimizers_refuse_bad_hyperparameters_when_constructed(optimizer, keyword, value,
                                                                 message):
    with pytest.raises(ValueError, match=message):
        optimizer(**{keyword: value})


@pytest.mark.parametrize("optimizer, keyword, value, message", BAD_TYPES)
def test_optimizers_refuse_hyperparameters_of_the_wrong_type(optimizer, keyword, value,
                                                              message):
    with pytest.raises(TypeError, match=message):
        optimizer(**{keyword: value})


def test_boundary_values_that_mean_something_are_accepted():
    Newton(damping=0.0)  # the exact inverse-Hessian-vector product
    HessianFree(cg_eps=0.0, cg_tol=1e-8, warm_start_decay=0.0, preconditioner_exponent=0.0,
                damping_decrease=1.0, damping_increase=1.0, batch_size=None)
    GradientDescent(momentum=0.0, batch_size=np.int64(4))
    Adam(beta1=0.0, beta2=0.0)


def test_hessian_free_rho_thresholds_must_be_ordered():
    with pytest.raises(ValueError, match="rho_low .* must not exceed rho_high"):
        HessianFree(rho_low=0.8, rho_high=0.2)


def test_validated_values_are_stored_as_plain_numbers():
    optimizer = HessianFree(damping=np.float32(2), cg_max_iter=np.int64(7))
    assert type(optimizer.damping) is float and type(optimizer.cg_max_iter) is int


# minimize: its start and its keywords

def two_parameter_objective():
    W, b = G.var("W", (2, 3)), G.var("b", (3,))
    return Objective.from_graph(G.sum(W * W) + G.sum(b * b), [W, b])


@pytest.mark.parametrize("start, error, message", [
    ({"w": np.zeros((2, 3)), "b": np.zeros(3)}, KeyError,
     r"minimize: theta0 has no value for parameter\(s\) W.* unknown name\(s\) w.* "
     r"W \(2, 3\), b \(3,\)"),
    ({"W": np.zeros((2, 3)), "b": np.zeros(3), "c": 1.0}, KeyError, r"unknown name\(s\) c"),
    ({"W": np.zeros((3, 2)), "b": np.zeros(3)}, ValueError,
     r"minimize: theta0\['W'\] has shape \(3, 2\); the parameter W has shape \(2, 3\)"),
    ({"W": np.zeros(5), "b": np.zeros(4)}, ValueError, r"theta0\['W'\] has shape \(5,\)"),
    ({"W": [["a"] * 3] * 2, "b": np.zeros(3)}, TypeError, r"theta0\['W'\] is not numeric"),
    (np.zeros(8), ValueError, r"theta0 has shape \(8,\); the parameters W \(2, 3\), b \(3,\) "
                              r"take 9 numbers"),
    ([np.zeros((2, 3)), np.zeros(3)], TypeError, "theta0 must be a flat vector of 9 numbers "
                                                 "or a dict"),
    ("abc", TypeError, "theta0 must be a flat vector"),
    (np.full(9, np.nan), ValueError, r"theta0 has NaN or infinite entries in W, b"),
])
def test_minimize_names_what_is_wrong_with_the_start(start, error, message):
    with pytest.raises(error, match=message):
        minimize(two_parameter_objective(), start, GradientDescent(0.1), max_iter=1)


def test_objective_flatten_checks_names_and_shapes_too():
    objective = two_parameter_objective()
    with pytest.raises(KeyError, match=r"Objective.flatten: .*no value for parameter\(s\) b"):
        objective.flatten({"W": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"Objective.flatten: 3 arrays for the 2 parameters"):
        objective.flatten([np.zeros((2, 3)), np.zeros(3), np.zeros(1)])
    with pytest.raises(ValueError, match=r"Objective.flatten: arrays\[1\] has shape \(2,\)"):
        objective.flatten([np.zeros((2, 3)), np.zeros(2)])
    np.testing.assert_array_equal(objective.flatten({"b": [1, 2, 3], "W": np.zeros((2, 3))}),
                                  [0, 0, 0, 0, 0, 0, 1, 2, 3])


@pytest.mark.parametrize("keywords, error, message", [
    ({"max_iter": -1}, ValueError, "minimize: max_iter must be a non-negative integer, got -1"),
    ({"max_iter": 2.5}, TypeError, "max_iter must be a non-negative integer, got 2.5"),
    ({"gtol": NAN}, ValueError, "gtol must be a non-negative finite number, got nan"),
    ({"gtol": -1e-6}, ValueError, "gtol"),
    ({"target_loss": NAN}, ValueError, r"target_loss must be a number \(not NaN\)"),
    ({"max_cost": -1}, ValueError, "max_cost must be a non-negative number or None, got -1"),
    ({"max_time": NAN}, ValueError, "max_time"),
    ({"callback": 3}, TypeError, "callback must be a function or None, got 3"),
    ({"progress": 0.5}, TypeError, "progress must be True, False or a positive integer"),
    ({"progress": -1}, ValueError, "progress must be True, False or a positive integer"),
])
def test_minimize_checks_its_keywords(keywords, error, message):
    objective, _, _ = least_squares()
    with pytest.raises(error, match=message):
        minimize(objective, np.zeros(3), GradientDescent(0.1), **keywords)


def test_minimize_wants_an_optimizer_instance():
    objective, _, _ = least_squares()
    with pytest.raises(TypeError, match=r"optimizer must be an optimizer such as "
                                        r"HessianFree\(\).*got the class GradientDescent"):
        minimize(objective, np.zeros(3), GradientDescent)
    with pytest.raises(TypeError, match="optimizer must be an optimizer"):
        minimize(objective, np.zeros(3), "adam")


def test_minimize_accepts_the_boundaries():
    objective, _, _ = least_squares()
    result = minimize(objective, np.zeros(3), GradientDescent(0.1), max_iter=0, max_cost=0,
                      max_time=INF, target_loss=-INF, progress=False)
    assert result.iterations == 0


def test_evaluations_name_a_theta_or_direction_of_the_wrong_size():
    objective, _, _ = least_squares()
    with pytest.raises(ValueError, match=r"Objective.value: theta has shape \(4,\); the "
                                         r"parameters w \(3,\) take 3 numbers"):
        objective.value(np.zeros(4))
    with pytest.raises(ValueError, match=r"Objective.hvp: v has shape \(2,\)"):
        objective.hvp(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"Objective.unflatten: theta has shape \(5,\)"):
        objective.unflatten(np.zeros(5))


# the Objective: parameters, data, batches and what build() returns

def test_objective_refuses_bad_parameters():
    w = G.var("w", (3,))
    with pytest.raises(ValueError, match="Objective: params is empty"):
        Objective(lambda m: (G.sum(w), None), [])
    with pytest.raises(TypeError, match=r"Objective: params must be variables \(G.var\), got "
                                        r"params\[0\] ="):
        Objective(lambda m: (G.sum(w), None), [2 * w])
    with pytest.raises(ValueError, match="Objective: the parameter name w appears more than once"):
        Objective(lambda m: (G.sum(w), None), [w, w])


@pytest.mark.parametrize("change, error, message", [
    ({"y": np.r_[np.nan, np.zeros(11)]}, ValueError,
     r"Objective: data 'y' has 1 NaN or infinite entries, the first at index \(0,\)"),
    ({"x": np.full((12, 3), np.inf)}, ValueError, "data 'x' has 36 NaN or infinite"),
    ({"y": 1.0}, ValueError, "data 'y' is a scalar; data arrays need a leading batch axis"),
    ({"x": [["a", "b", "c"]] * 12}, TypeError, "data 'x' is not a numeric array"),
    ({"x": np.zeros((0, 3)), "y": np.zeros(0)}, ValueError, "the data have no examples"),
])
def test_objective_refuses_bad_data_when_constructed(change, error, message):
    objective, X, y = least_squares()
    with pytest.raises(error, match=message):
        Objective(objective.build, objective.params, {"x": X, "y": y, **change})


@pytest.mark.parametrize("batch, error, message", [
    (np.array([0, 50]), IndexError, r"Objective: batch indices must lie in \[0, 12\) "
                                    r"\(the examples\), got 50"),
    (np.array([-1, 2]), IndexError, r"must lie in \[0, 12\).*got -1"),
    (np.array([0.0, 1.0]), TypeError, "batch must be a 1-D array of integer indices"),
    (np.ones(12, dtype=bool), TypeError, r"integer indices.*np.flatnonzero\(mask\)"),
    (np.array([[0, 1]]), ValueError, r"batch must be a 1-D array.*shape \(1, 2\)"),
    (3, ValueError, "batch must be a 1-D array of integer indices into the 12 examples, "
                    "got 3"),
    (np.array([], dtype=int), ValueError, "batch is empty"),
])
def test_objective_names_a_bad_batch(batch, error, message):
    objective, _, _ = least_squares()
    with pytest.raises(error, match=message):
        objective.value(np.zeros(3), batch)
    with pytest.raises(error, match=message):
        objective.per_example_gradient_squares(np.zeros(3), batch)


def test_objective_without_data_refuses_a_batch():
    w = G.var("w", (2,))
    objective = Objective.from_graph(G.sum(w * w), [w])
    with pytest.raises(ValueError, match="this objective has no data, so batch must be None"):
        objective.gradient(np.zeros(2), np.array([0]))


def test_objective_batches_checks_the_batch_size():
    objective, _, _ = least_squares()
    with pytest.raises(TypeError, match="Objective.batches: batch_size must be a positive "
                                        "integer or None, got 2.5"):
        objective.batches(2.5)


def test_objective_refuses_a_loss_that_is_not_a_scalar():
    w = G.var("w", (3,))

    def per_example(m):  # forgot the mean over the batch
        z = G.var("x", (m, 3)) @ w
        return (z - G.var("y", (m,))) ** 2, z

    _, X, y = least_squares()
    objective = Objective(per_example, [w], {"x": X, "y": y})
    with pytest.raises(ValueError, match=r"Objective: build\(12\) returned a loss of shape "
                                         r"\(12,\); the loss must be a scalar"):
        objective.value(np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(3,\); the loss must be a scalar"):
        Objective.from_graph(w * w, [w])  # refused at once: the graph is already there


def test_objective_refuses_a_build_that_does_not_return_loss_and_output():
    w = G.var("w", (3,))
    objective = Objective(lambda m: G.sum(w * w), [w])
    with pytest.raises(TypeError, match=r"build\(None\) must return \(loss, output\)"):
        objective.value(np.zeros(3))
    with pytest.raises(TypeError, match=r"the loss must be a graph node, got 1.0"):
        Objective(lambda m: (1.0, None), [w]).value(np.zeros(3))


def test_minimize_wants_an_objective_not_a_bare_loss():
    x = G.var("x", (2,))
    with pytest.raises(TypeError, match=r"minimize: objective must be an Objective.*"
                                        r"Objective.from_graph\(loss, params\)"):
        minimize(G.sum(x * x), np.zeros(2), Newton())
