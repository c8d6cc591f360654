"""Contracts to and from other systems' formats: OCDS (ocds.py)."""
