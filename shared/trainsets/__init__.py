"""Training image sets: evaluate each set's mix of styles against a target distribution with
a vision model looking at numbered contact sheets, and rebalance it (delete the worst surplus,
generate what is missing) only when told to, with a rollback."""
