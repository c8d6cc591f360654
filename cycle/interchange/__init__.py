"""Contracts to and from other systems' formats: OCDS (ocds.py); a council's contract register imported
through a mapping (register.py); the Transparency Code's contracts dataset (transparency.py)."""
