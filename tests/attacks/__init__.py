"""Regression tests written as the attacks of the security review (issue #11), one module
per finding: each tries what the attacker did and asserts it no longer works."""
