"""Built-in plugins: registered through the same hooks as installed plugins (see ``BUILTIN_PLUGINS``)."""
