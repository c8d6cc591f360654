"""Contract performance (issue 17, seed 001 section 8): SMART indicators of a contract, their targets over time,
the provider's quarterly returns, each quarter's status and trend, and the actions a review raises.

- `status`: numbers, the rule a quarter is judged by, and the status and trend it gives (no database);
- `indicators`: adding indicators, changing targets, recording values, and reading them back per quarter;
- `returns`: a provider's return (CSV), checked in full, then imported all or nothing;
- `actions`: actions with an owner and a due date;
- `portfolio`: `cycle performance`, every live contract's indicators in a quarter, streamed.
"""
