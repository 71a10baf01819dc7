"""What the client scripts of cli/tests share: a failed expectation and the two checks."""


class Mismatch(Exception):
    """The server answered something other than what the script expects."""


def check(cond, what):
    if not cond:
        raise Mismatch(what)


def eq(got, want, what):
    if got != want:
        raise Mismatch(f"{what}: got {got!r}, want {want!r}")
