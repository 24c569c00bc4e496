"""Authentication: passwords, user tokens, the service key, and the route guard."""
