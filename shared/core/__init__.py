"""Pure building blocks that import nothing of ours."""
