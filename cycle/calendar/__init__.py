"""Dates as the product counts them: periods and notice deadlines (dates), financial quarters (quarters)."""
