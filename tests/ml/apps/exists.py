"""Prints whether the application's database already holds each ML model or script named
in argv when its first line runs (``NAME True``)."""
import sys

from smartsim.client import Client

client = Client(None, logger_name="exists")
for name in sys.argv[1:]:
    print(name, client.model_exists(name), flush=True)
