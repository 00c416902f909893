"""archiver: keep a faithful, searchable archive of the web pages and feeds you follow."""

__version__ = "0.1.0"
