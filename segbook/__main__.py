from segbook.cli.errors import entry_point

entry_point()
