"""The stages of one run, each a function that reads files and writes files (order: segbook.api)."""
