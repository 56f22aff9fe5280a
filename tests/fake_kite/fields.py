"""Kite request fields read strictly, and Kite's error answer: every refusal names the field
and the value, as Kite's ``InputException`` messages do."""

from __future__ import annotations


class KiteApiError(Exception):
    """An error the fake answers with Kite's envelope (HTTP status, error_type, message)."""

    def __init__(self, http_status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.error_type = error_type
        self.message = message


def input_error(message: str) -> KiteApiError:
    return KiteApiError(400, "InputException", message)


def choice(value: object, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise input_error(f"Invalid `{name}` {value!r}: one of {', '.join(allowed)}")
    return str(value)


def whole(value: object, name: str) -> int:
    try:
        number = float(str(value))
    except ValueError:
        raise input_error(f"Invalid `{name}` {value!r}: not a number") from None
    if not number.is_integer():
        raise input_error(f"Invalid `{name}` {value!r}: not a whole number")
    return int(number)


def finite(value: object, name: str) -> float:
    try:
        number = float(str(value))
    except ValueError:
        raise input_error(f"Invalid `{name}` {value!r}: not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise input_error(f"Invalid `{name}` {value!r}: not a finite number")
    return number
