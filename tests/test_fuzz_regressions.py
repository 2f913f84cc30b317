"""Regression tests of the defects the fuzz harnesses (fuzz/README.md) found, one per finding,
each added with its fix: a minimal reproducer of the call and the oracle it broke (a
TypeError/ValueError naming the argument, every array unchanged after an error, nothing
written outside a call's outputs).

Findings not fixed yet are not here (a failing test is not committed); their reproducers are
in the fuzzing report of issue 12.
"""
