"""Services: the logic, written against ports only."""
