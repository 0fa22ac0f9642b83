"""High-precision weights as Python integers, computed once per noise scale.

All table values are fixed-point integers with :data:`FRAC_BITS` fractional bits, so an
integer ``v`` stands for ``v / 2**FRAC_BITS``. Error bounds (in units of ``2**-FRAC_BITS``,
"ulps") that the samplers' documented bound relies on:

* :func:`exp_neg` is within 2 ulps of ``exp(-x)``: the exponent is formed with ``_DIGITS``
  significant decimal digits and :meth:`decimal.Decimal.exp` is correctly rounded, so the
  relative error before the final floor is below ``10**-100`` (times ``1 + x``), far less
  than one ulp for every ``x`` for which ``exp(-x)`` exceeds one ulp.
* :func:`geometric_weights` item ``k`` is within ``3 * (k + 1)`` ulps of ``q**k``: each step
  multiplies by a value within 2 ulps of ``q <= 1`` and floors (1 ulp), and factors
  ``<= 1`` never enlarge an earlier error.
* :func:`gaussian_weights` item ``x`` is within ``3 * (x + 1)**2`` ulps of
  ``exp(-x**2 / (2 sigma**2))`` by the same argument applied to the two coupled recurrences.

With ``FRAC_BITS = 256`` and tables far shorter than ``2**40`` entries these errors are below
``2**-170`` absolute per weight.
"""

from __future__ import annotations

import decimal
from fractions import Fraction
from typing import Final

FRAC_BITS: Final = 256
ONE: Final = 1 << FRAC_BITS
_DIGITS: Final = 110


def exp_neg(x: Fraction) -> int:
    """``floor(exp(-x) * 2**FRAC_BITS)`` to within 2 ulps, for a rational ``x >= 0``."""
    if x < 0:
        raise ValueError("exp_neg needs x >= 0")
    context = decimal.Context(
        prec=_DIGITS, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, rounding=decimal.ROUND_HALF_EVEN
    )
    exponent = context.divide(decimal.Decimal(x.numerator), decimal.Decimal(x.denominator))
    value = context.exp(context.minus(exponent))
    scaled = context.multiply(value, decimal.Decimal(ONE))
    return min(ONE, int(scaled.to_integral_value(rounding=decimal.ROUND_FLOOR)))


def geometric_weights(q: Fraction, count: int) -> list[int]:
    """Fixed-point ``exp(-q * k)`` for ``k = 0 .. count - 1`` (a geometric sequence)."""
    ratio = exp_neg(q)
    weights: list[int] = []
    current = ONE
    for _ in range(count):
        weights.append(current)
        current = (current * ratio) >> FRAC_BITS
    return weights


def gaussian_weights(inv_two_var: Fraction, count: int) -> list[int]:
    """Fixed-point ``exp(-x**2 * inv_two_var)`` for ``x = 0 .. count - 1``.

    Uses ``p(x + 1) = p(x) * g(x)`` with ``g(x) = exp(-(2x + 1) * inv_two_var)``, and
    ``g(x + 1) = g(x) * exp(-2 * inv_two_var)``: two big-integer products per entry.
    """
    step = exp_neg(2 * inv_two_var)
    ratio = exp_neg(inv_two_var)
    weights: list[int] = []
    current = ONE
    for _ in range(count):
        weights.append(current)
        current = (current * ratio) >> FRAC_BITS
        ratio = (ratio * step) >> FRAC_BITS
    return weights
