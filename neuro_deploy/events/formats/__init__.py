"""One module per family of event formats; each registers its readers on import."""
