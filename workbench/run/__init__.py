"""A trained run folder from the outside: listing, loading its model, deleting it."""
