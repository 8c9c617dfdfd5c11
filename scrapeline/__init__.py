"""scrapeline: core settings, record schema and converters, and the command line."""
