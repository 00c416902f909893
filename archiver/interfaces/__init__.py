"""What people use: the command line, Datasette and its plugin."""
