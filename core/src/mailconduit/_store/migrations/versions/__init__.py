"""The store's migrations, one module per revision; each is frozen once released."""
