"""What the archive makes of bytes: articles, feeds, URLs, rendering. Pure: imports neither net nor store."""
