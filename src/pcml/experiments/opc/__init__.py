"""Operator-ProbConserv: UQ neural operators, in and out of domain, made conservative.

``config`` (profiles as data), ``metrics`` (before/after metrics), ``run`` (the runner),
``plots`` (figures). Entry point: ``pcml opc run PROBLEM --profile {smoke,quick,paper}``.
"""
