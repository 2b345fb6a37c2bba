"""The `segbook` command line: a thin click shell over segbook.api."""
