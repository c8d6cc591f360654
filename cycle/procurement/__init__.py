"""Procurement under the law that governs it (issue 18): the Provider Selection Regime (SI 2023/1348) and the
Procurement Act 2023. regimes.py reads the regimes and their routes (regimes.toml, data a governance lead can
read); working_days.py counts days as each law defines them; clocks.py works out a route's clocks from the steps
done; record.py keeps a project's procurement and its steps (audited)."""
