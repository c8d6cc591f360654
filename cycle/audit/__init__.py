"""The audit log: the hash chain (chain), the row images its entries carry (images), the records checked against it
(records), and the whole check `cycle audit verify` runs (verify)."""
