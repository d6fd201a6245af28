"""The exceptions rop raises: one hierarchy, each class also a builtin users already catch."""


class GraphError(Exception):
    """Base of every error raised by graph/ and rop/."""


class ShapeError(GraphError, ValueError):
    """Operand shapes that an op cannot combine, or a feed of the wrong shape."""


class OutOfBoundsError(ShapeError, IndexError):
    """An index out of range for an axis (numpy raises IndexError)."""


class AxisError(OutOfBoundsError):
    """An axis out of range for an operand's rank (numpy's AxisError)."""


class DomainError(GraphError, ValueError):
    """A value outside an op's domain or branch, or a non-finite value where one is checked."""


class FeedError(GraphError, KeyError):
    """Variables missing from (or ambiguous in) the feed given to evaluate."""

    def __str__(self):  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


class MissingRuleError(GraphError, NotImplementedError):
    """An op lacks a rule a transformation needs."""


class NotInvertibleError(GraphError, ValueError):
    """A graph (or one node of it) cannot be inverted for the requested input."""


class CertificateError(NotInvertibleError):
    """A computed answer (an inverse-Hessian-vector product) failed its certificate: its
    residual exceeds the stated tolerance, or the point is numerically singular.
    ``certificate``, ``tolerance`` and ``condition`` hold what was measured."""

    def __init__(self, message, *, certificate=float("nan"), tolerance=float("nan"),
                 condition=float("nan")):
        super().__init__(message)
        self.certificate, self.tolerance, self.condition = certificate, tolerance, condition


class RuleCheckError(GraphError, AssertionError):
    """check_op / check_grads found a rule that disagrees with sympy or finite differences."""
