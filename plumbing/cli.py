"""One-line errors, the argument parser and the argparse types every script shares.

A bad input (a flag, a file, a row) ends a script with one line 'script: error: ...' naming it and saying what to
do (`run_cli`, `Parser`), never with a traceback; a comma list may start with a negative number: --alphas -1,1.
"""
import argparse
import math
import os
import re
import sys


def user_errors():
    """Exception types that mean 'bad input' (a flag, a file, a row), not a bug in this repo."""
    from safetensors import SafetensorError
    return (ValueError, OSError, re.error, SafetensorError)


def run_cli(main, argv=None):
    """main(argv); a bad input exits 1 with one line 'script: error: ...', never a traceback."""
    prog = os.path.basename(sys.argv[0])
    try:
        return main(argv)
    except user_errors() as e:
        text = " ".join(str(e).split()) or type(e).__name__
        if isinstance(e, re.error):
            text = f"--linearize: not a valid regex ({text}); fix the pattern"
        raise SystemExit(f"{prog}: error: {text}") from None


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line 'prog: error: ...' (exit 2; --help prints the usage) and whose
    values may be comma lists starting with a negative number (--alphas-b -1.5,-1,0 needs no '=')."""
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._negative_number_matcher = re.compile(r"^-\.?\d[\d.,eE+-]*$")  # newer argparse does this itself

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


NUMBER = {int: "a whole number", float: "a number"}


def positive(kind=int, allow_zero=False):
    """argparse type: a number > 0 (>= 0 with allow_zero); anything else is a usage error naming the flag."""

    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {NUMBER[kind]}") from None
        if not (v >= 0 if allow_zero else v > 0) or (kind is float and not math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"{text!r} must be {'>= 0' if allow_zero else '> 0'}")
        return v
    parse.__name__ = kind.__name__
    return parse


def in_range(lo, hi, kind=float, lo_open=False, hi_open=False):
    """argparse type: a number in [lo, hi] (open ends as asked)."""

    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {NUMBER[kind]}") from None
        ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
        if not ok:
            raise argparse.ArgumentTypeError(f"{text!r} must be in {'(' if lo_open else '['}{lo}, {hi}"
                                             f"{')' if hi_open else ']'}")
        return v
    parse.__name__ = kind.__name__
    return parse


