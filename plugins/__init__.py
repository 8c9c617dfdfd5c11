"""Built-in site plugins. The registry imports every module here; nothing else imports them by name."""
