"""Safe evaluation of MBR formulas (calculated parameters, bill-of-materials quantities).

Never `eval`: the formula is parsed with `ast` and only a whitelist of node kinds is walked —
numbers, names, + - * / **, unary -/+, parentheses and a few functions. Arithmetic is
Decimal with 34 significant digits, so 0.1 + 0.2 is 0.3 as a person would expect.
"""

import ast
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Context, Decimal, DecimalException, DivisionByZero, InvalidOperation, Overflow

MAX_LENGTH = 1000  # characters; an MBR formula is one line of arithmetic
MAX_EXPONENT = 1000  # |y| in x ** y: enough for any unit conversion, far from 10 ** 10 ** 10
MAX_ROUND_DIGITS = 20
FUNCTIONS = {"min": (1, None), "max": (1, None), "abs": (1, 1), "round": (1, 2), "sqrt": (1, 1),
             "log10": (1, 1), "ln": (1, 1), "exp": (1, 1)}  # name → (fewest, most) arguments
_DECIMAL = re.compile(r"^(?:[\d_]+\.?[\d_]*|\.[\d_]+)(?:[eE][-+]?[\d_]+)?$")  # not 0x10, 0b1, 0o7
_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_CONTEXT = Context(prec=34, Emax=999_999, Emin=-999_999, traps=[InvalidOperation, DivisionByZero, Overflow])


class FormulaError(ValueError):
    """A formula that cannot be parsed or evaluated; the message is for the person who wrote it."""


def _parse(formula: str) -> ast.expr:
    if not isinstance(formula, str) or not formula.strip():
        raise FormulaError("The formula is empty.")
    if len(formula) > MAX_LENGTH:
        raise FormulaError(f"The formula is longer than {MAX_LENGTH} characters.")
    try:
        tree = ast.parse(formula.strip(), mode="eval")
    except SyntaxError as e:
        raise FormulaError(f"'{formula}' is not a valid formula ({e.msg}).") from None
    except (RecursionError, MemoryError, ValueError):
        raise FormulaError(f"The formula '{formula}' is too deeply nested.") from None
    return tree.body


def _source(formula: str, node: ast.expr) -> str:
    return ast.get_source_segment(formula.strip(), node) or type(node).__name__


def _check(formula: str, node: ast.expr, found: set[str]) -> None:
    """Walk the whitelist; collect variable names; refuse anything else."""
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float) or not _DECIMAL.match(_source(formula, node)):
            raise FormulaError(f"'{_source(formula, node)}' is not allowed in a formula: only decimal numbers "
                               "(e.g. 3, 0.5, 1e8) and names.")
    elif isinstance(node, ast.Name):
        found.add(node.id)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _OPERATORS:
            raise FormulaError(f"Operator in '{_source(formula, node)}' is not allowed: use + - * / ** only.")
        _check(formula, node.left, found)
        _check(formula, node.right, found)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.UAdd | ast.USub):
            raise FormulaError(f"'{_source(formula, node)}' is not allowed: only unary - and + are.")
        _check(formula, node.operand, found)
    elif isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            raise FormulaError(f"'{_source(formula, node.func)}' is not an allowed function: use "
                               f"{', '.join(FUNCTIONS)}.")
        if node.keywords:
            raise FormulaError(f"{name}() takes no keyword arguments.")
        fewest, most = FUNCTIONS[name]
        if len(node.args) < fewest or (most is not None and len(node.args) > most):
            count = f"{fewest}" if fewest == most else f"{fewest} to {most}" if most else f"at least {fewest}"
            raise FormulaError(f"{name}() takes {count} argument{'s' if most != 1 else ''}.")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise FormulaError(f"{name}() takes plain arguments, not *{_source(formula, arg.value)}.")
            _check(formula, arg, found)
    else:
        raise FormulaError(f"'{_source(formula, node)}' is not allowed in a formula: use numbers, parameter ids, "
                           f"+ - * / ** and the functions {', '.join(FUNCTIONS)}.")


def names(formula: str) -> frozenset[str]:
    """The variable names the formula uses (raises FormulaError when it is not an allowed formula)."""
    found: set[str] = set()
    _check(formula, _parse(formula), found)
    return frozenset(found)


def evaluate(formula: str, values: Mapping[str, Decimal]) -> Decimal:
    tree = _parse(formula)
    _check(formula, tree, set())
    try:
        result = _CONTEXT.plus(_value(formula.strip(), tree, values))
    except DivisionByZero:
        raise FormulaError(f"Division by zero in '{formula}'.") from None
    except Overflow:
        raise FormulaError(f"The result of '{formula}' is too large.") from None
    except DecimalException:
        raise FormulaError(f"'{formula}' cannot be calculated with these values.") from None
    if not result.is_finite():
        raise FormulaError(f"The result of '{formula}' is not a finite number.")
    return result


def _value(formula: str, node: ast.expr, values: Mapping[str, Decimal]) -> Decimal:
    ctx = _CONTEXT
    if isinstance(node, ast.Constant):
        # From the source text, not the float Python made of it: 0.1 stays exactly 0.1.
        return Decimal(ast.get_source_segment(formula, node))
    if isinstance(node, ast.Name):
        if node.id not in values:
            raise FormulaError(f"'{node.id}' has no value: it is not a known parameter or it was not entered yet.")
        value = Decimal(values[node.id])
        if not value.is_finite():
            raise FormulaError(f"'{node.id}' is not a finite number.")
        return value
    if isinstance(node, ast.UnaryOp):
        operand = _value(formula, node.operand, values)
        return ctx.minus(operand) if isinstance(node.op, ast.USub) else ctx.plus(operand)
    if isinstance(node, ast.BinOp):
        left, right = _value(formula, node.left, values), _value(formula, node.right, values)
        if isinstance(node.op, ast.Add):
            return ctx.add(left, right)
        if isinstance(node.op, ast.Sub):
            return ctx.subtract(left, right)
        if isinstance(node.op, ast.Mult):
            return ctx.multiply(left, right)
        if isinstance(node.op, ast.Div):
            if right.is_zero():
                raise FormulaError(f"Division by zero in '{formula}': '{_source(formula, node.right)}' is 0.")
            return ctx.divide(left, right)
        if abs(right) > MAX_EXPONENT:
            raise FormulaError(f"The exponent in '{_source(formula, node)}' is too large (at most {MAX_EXPONENT}).")
        if left < 0 and right != right.to_integral_value():
            raise FormulaError(f"'{_source(formula, node)}': a negative number has no fractional power.")
        if left.is_zero() and right < 0:
            raise FormulaError(f"Division by zero in '{formula}': 0 to a negative power.")
        return ctx.power(left, right)
    return _call(formula, node, values)


def _call(formula: str, node: ast.Call, values: Mapping[str, Decimal]) -> Decimal:
    ctx = _CONTEXT
    name = node.func.id
    args = [_value(formula, arg, values) for arg in node.args]
    if name == "min":
        return min(args)
    if name == "max":
        return max(args)
    x = args[0]
    if name == "abs":
        return ctx.abs(x)
    if name == "round":
        digits = args[1] if len(args) == 2 else Decimal(0)
        if digits != digits.to_integral_value() or not 0 <= digits <= MAX_ROUND_DIGITS:
            raise FormulaError(f"round() takes a whole number of decimals from 0 to {MAX_ROUND_DIGITS}.")
        return round_half_up(x, int(digits))
    if name == "sqrt":
        if x < 0:
            raise FormulaError(f"'{_source(formula, node)}': square root of a negative number.")
        return ctx.sqrt(x)
    if name in ("log10", "ln"):
        if x <= 0:
            raise FormulaError(f"'{_source(formula, node)}': logarithm of a number that is not positive.")
        return ctx.log10(x) if name == "log10" else ctx.ln(x)
    return ctx.exp(x)


def round_half_up(value: Decimal, decimals: int) -> Decimal:
    """`value` to `decimals` places, halves away from zero (as people round, not banker's rounding)."""
    try:
        return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP, context=_CONTEXT)
    except InvalidOperation:
        raise FormulaError(f"{value} has too many digits to round to {decimals} decimals.") from None
