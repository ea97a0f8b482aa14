"""schemathesis hooks for the resident system contract (scripts/api-fuzz.sh).

A 個人番号 (individual_number) is 12 digits whose last is a check digit; JSON Schema can say "12 digits" but not
"with a right check digit", so most generated numbers would be refused (400) although they fit the schema. This
hook gives every 12-digit individual_number in a generated body its right check digit (the law's mod-11 rule, as
backend-adapter/src/identifiers.rs computes it), so schema-valid bodies are valid and the server's refusal of a
wrong check digit is still tested by tests/it/http_adapter.rs. Anything that is not 12 ASCII digits is left as
generated (schema-violating data must still be refused).
"""

import schemathesis

WEIGHTS = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2]


def with_check_digit(number: str) -> str:
    remainder = sum(int(d) * w for d, w in zip(number[:11], WEIGHTS)) % 11
    check = 0 if remainder <= 1 else 11 - remainder
    return number[:11] + str(check)


def fix(value):
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if (
                key == "individual_number"
                and isinstance(item, str)
                and len(item) == 12
                and item.isascii()
                and item.isdigit()
            ):
                out[key] = with_check_digit(item)
            else:
                out[key] = fix(item)
        return out
    if isinstance(value, list):
        return [fix(item) for item in value]
    return value


@schemathesis.hook
def map_body(ctx, body):
    return fix(body)
